"""Every section of the profile page, edited inline on the profile's own form.

Inline permissions follow the parent profile: rows are added, changed and deleted only where the
profile is editable by this staff member. Evidence and relationships say in their help text that
they are reviewed; their review fields are read-only here.
"""

from __future__ import annotations

import contextlib

from django.contrib import admin
from django.contrib.admin.widgets import AdminTextareaWidget
from django.core.exceptions import ValidationError
from django.db import models

from ..forms import (
    FAQFormSet,
    ProfileChildForm,
    ProfileChildFormSet,
    RelatedLinkForm,
    RelationshipForm,
    RelationshipFormSet,
    ReviewedFormSet,
    add_review_help,
)
from ..models import (
    Briefing,
    EvidenceItem,
    FAQItem,
    Identifier,
    RelatedLink,
    Relationship,
    TimelineEvent,
    Watchpoint,
)
from ..validators import normalise_identifier
from .base import COMPACT_TEXT, URL_FIELDS, cite_as, tier_choice_options
from .scope import scope_of
from .widgets import AccessibleNamesMixin, MarkdownFieldsMixin, PreloadedAutocompleteSelect, preload_selected


class ProfileChildInline(AccessibleNamesMixin, MarkdownFieldsMixin):
    """Inline permissions follow the parent profile: add, change and delete only where it is editable."""

    extra = 0
    formfield_overrides = COMPACT_TEXT
    form = ProfileChildForm
    formset = ProfileChildFormSet

    def _profile_editable(self, request, obj) -> bool:
        if obj is None or obj.pk is None:  # the add form: whoever may create a profile fills it in
            return request.user.has_perm("profiles.add_institution")
        return scope_of(request).can_edit(obj)

    def has_add_permission(self, request, obj):
        return super().has_add_permission(request, obj) and self._profile_editable(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in self.get_autocomplete_fields(request) and "widget" not in kwargs:
            kwargs["widget"] = PreloadedAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        kwargs = {**tier_choice_options(db_field), **kwargs}
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and db_field.name == "required_tier":
            # The tiers, read once for the inline rather than once per row (and without a COUNT first).
            field.choices = list(iter(field.choices))
        return field

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        if obj is not None and obj.pk is not None:
            preload_selected(formset.form.base_fields, self.get_queryset(request).filter(**{formset.fk.name: obj}))
        return formset

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._profile_editable(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._profile_editable(request, obj)


class ReviewedInline(ProfileChildInline):
    """Evidence and relationships on the profile's page: reviewed fields say so in their help."""

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        add_review_help(formset.form.base_fields, self.model)
        return formset


class EvidenceItemInline(ReviewedInline, admin.StackedInline):
    model = EvidenceItem
    formset = ReviewedFormSet
    show_change_link = True
    fieldsets = [
        (None, {"fields": [("url", "kind"), ("publisher", "title"), ("source_date", "retrieved_at"), "claim",
                           "required_tier"]}),
        ("Quote and archived copy", {"classes": ["collapse"], "fields": ["quote", "archive_url"]}),
        ("Review", {
            "fields": [("review_state", "submitted_by"), ("reviewed_by", "reviewed_at"), "review_note", "cite_as"],
            "description": "New and edited evidence waits for a moderator; readers see only approved items.",
        }),
    ]
    readonly_fields = ("review_state", "submitted_by", "reviewed_by", "reviewed_at", "review_note", "cite_as")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("submitted_by", "reviewed_by")

    @admin.display(description="cite as")
    def cite_as(self, obj):
        return cite_as(obj)


class RelationshipInline(ReviewedInline, admin.TabularInline):
    model = Relationship
    fk_name = "source"
    form = RelationshipForm
    formset = RelationshipFormSet
    verbose_name = "relationship (dependency map)"
    verbose_name_plural = "relationships (dependency map)"
    fields = ["kind", "target", "since", "description", "evidence", "review_state"]
    readonly_fields = ["review_state"]
    autocomplete_fields = ["target", "evidence"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("source", "target")  # each row is titled by both


class WatchpointInline(ProfileChildInline, admin.TabularInline):
    model = Watchpoint
    fields = ["order", "kind", "text", "required_tier", "status", "triggered_at", "review_by"]


class TimelineEventInline(ProfileChildInline, admin.TabularInline):
    model = TimelineEvent
    fields = ["date", "title", "text", "evidence", "kind"]
    readonly_fields = ["kind"]  # "profile updated" entries are written by the system
    autocomplete_fields = ["evidence"]


class FAQItemInline(ProfileChildInline, admin.TabularInline):
    model = FAQItem
    formset = FAQFormSet
    fields = ["order", "question", "answer"]


class RelatedLinkInline(ProfileChildInline, admin.TabularInline):
    model = RelatedLink
    fk_name = "institution"
    form = RelatedLinkForm
    verbose_name = "“also read” link"
    verbose_name_plural = "“also read” links"
    fields = ["order", "title", "target", "url"]
    autocomplete_fields = ["target"]


class BriefingInline(ProfileChildInline, admin.StackedInline):
    model = Briefing
    classes = ["collapse"]
    show_change_link = True  # its page holds the per-reader grants (object permissions)
    fields = [("title", "required_tier", "order"), "body", "source_notes"]
    formfield_overrides = {**URL_FIELDS, models.TextField: {"widget": AdminTextareaWidget(attrs={"rows": 6})}}


class IdentifierForm(ProfileChildForm):
    def clean(self):
        """Compare identifiers in their stored form ("AS13335" is 13335), so the formset's check that
        no two rows of a profile share one sees the same values the database would. A malformed value
        is left as typed: the model's clean() names what is wrong with it."""
        cleaned = super().clean()
        scheme, value = cleaned.get("scheme"), cleaned.get("value")
        if scheme and value:
            with contextlib.suppress(ValidationError):
                cleaned["value"] = normalise_identifier(scheme, value)
        return cleaned


class IdentifierFormSet(ProfileChildFormSet):
    unique_in_profile = ("scheme", "value")
    unique_message = "This profile already has this identifier (same %(fields)s)."


class IdentifierInline(ProfileChildInline, admin.TabularInline):
    """Public facts, no review: a profile's ids in PeeringDB, Wikidata, GLEIF and its website."""

    model = Identifier
    form = IdentifierForm
    formset = IdentifierFormSet
    verbose_name = "identifier (other datasets)"
    verbose_name_plural = "identifiers (other datasets)"
    fields = ["scheme", "value"]


#: The profile form's inlines, in the order of the profile page.
PROFILE_INLINES = [
    EvidenceItemInline,
    RelationshipInline,
    WatchpointInline,
    TimelineEventInline,
    FAQItemInline,
    RelatedLinkInline,
    BriefingInline,
    IdentifierInline,
]
