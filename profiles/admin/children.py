"""Each child of a profile on its own admin page (searchable across profiles), scoped to the
staff member's profiles: what-to-watch points, timeline events, FAQ, "also read" links and
member briefings. Evidence and relationships build on `ProfileChildAdmin` in `reviewed.py`.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import flatten
from django.contrib.admin.widgets import AdminTextareaWidget
from django.db import models
from guardian.admin import GuardedModelAdminMixin

from .. import permissions
from ..citations import CITATION_HELP
from ..forms import ProfileChildForm, RelatedLinkForm, add_citation_help
from ..models import Briefing, FAQItem, Institution, RelatedLink, TimelineEvent, Watchpoint
from .base import COMPACT_TEXT, URL_FIELDS, HistoryAdmin, tier_choice_options, warn_about_citations
from .grants import ObjectPermissionsForms
from .scope import OutOfScopeIs403, scope_of


class ProfileChildAdmin(OutOfScopeIs403, HistoryAdmin):
    """A child of a profile: listed, changed and deleted only within the staff member's profiles."""

    parent_field = "institution"
    formfield_overrides = COMPACT_TEXT
    form = ProfileChildForm
    list_per_page = 50
    #: Markdown fields of this child in which analysts may cite evidence (warned about on save).
    citation_fields: tuple[str, ...] = ()

    def parent(self, obj):
        return getattr(obj, self.parent_field)

    def get_queryset(self, request):
        return self.scoped(request, super().get_queryset(request))

    def scoped(self, request, qs):
        """Only children of the staff member's profiles. Django's changelist skips
        `list_select_related` once a queryset has any select_related, so name them all here."""
        qs = qs.select_related(self.parent_field, *self.list_select_related)
        return scope_of(request).children(qs, self.parent_field)

    def has_view_permission(self, request, obj=None):
        """Within the staff member's profiles only — this also scopes history pages, which load
        objects (even deleted ones) from the history tables instead of `get_queryset`."""
        return super().has_view_permission(request, obj) and (obj is None or self.in_scope(request, obj))

    def in_scope(self, request, obj) -> bool:
        scope = scope_of(request)
        if scope.sees_every_institution:
            return True
        field = self.model._meta.get_field(self.parent_field)
        parent = field.get_cached_value(obj, None)
        if parent is None:  # a history page's object: its profile may since have been deleted
            parent = Institution.objects.filter(pk=getattr(obj, field.attname)).first()
        return parent is not None and scope.can_see(parent)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (
            obj is None or scope_of(request).can_edit(self.parent(obj))
        )

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (
            obj is None or scope_of(request).can_edit(self.parent(obj))
        )

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == self.parent_field:
            kwargs["queryset"] = permissions.editable_institutions(request.user)
        kwargs = {**tier_choice_options(db_field), **kwargs}
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if self.citation_fields:
            add_citation_help(form.base_fields)
        return form

    def get_fieldsets(self, request, obj=None):
        """How to cite is explained once, in the description of the first fieldset with a citable
        field (whatever change-form template the page uses); each such field keeps a short hint."""
        fieldsets = super().get_fieldsets(request, obj)
        for at, (name, options) in enumerate(fieldsets):
            names = set(flatten(options["fields"]))
            if names & set(self.citation_fields) and not options.get("description"):
                return [*fieldsets[:at], (name, {**options, "description": CITATION_HELP}), *fieldsets[at + 1:]]
        return fieldsets

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if self.citation_fields:
            label = self.model._meta.verbose_name
            texts = [(f"{label} {self.model._meta.get_field(name).verbose_name}", getattr(obj, name))
                     for name in self.citation_fields]
            warn_about_citations(request, self.parent(obj), texts)


@admin.register(Watchpoint)
class WatchpointAdmin(ProfileChildAdmin):
    list_display = ["__str__", "institution", "kind", "required_tier", "status", "order"]
    list_filter = ["kind", "status", "required_tier"]
    search_fields = ["text", "institution__name"]
    autocomplete_fields = ["institution"]
    list_select_related = ["institution", "required_tier"]


@admin.register(TimelineEvent)
class TimelineEventAdmin(ProfileChildAdmin):
    list_display = ["date", "title", "institution", "kind"]
    list_filter = ["kind", "date"]
    search_fields = ["title", "text", "institution__name"]
    autocomplete_fields = ["institution", "evidence"]
    list_select_related = ["institution"]
    readonly_fields = ["kind"]
    citation_fields = ("text",)


@admin.register(FAQItem)
class FAQItemAdmin(ProfileChildAdmin):
    list_display = ["question", "institution", "order"]
    search_fields = ["question", "answer", "institution__name"]
    autocomplete_fields = ["institution"]
    list_select_related = ["institution"]
    citation_fields = ("answer",)


@admin.register(RelatedLink)
class RelatedLinkAdmin(ProfileChildAdmin):
    form = RelatedLinkForm
    list_display = ["__str__", "institution", "target", "url", "order"]
    search_fields = ["title", "url", "institution__name", "target__name"]
    autocomplete_fields = ["institution", "target"]
    list_select_related = ["institution", "target"]


@admin.register(Briefing)
class BriefingAdmin(ObjectPermissionsForms, GuardedModelAdminMixin, ProfileChildAdmin):
    """Briefings; their object-permissions page grants one reader or group `view_briefing`."""

    object_permission_codenames = ("view_briefing",)
    list_display = ["title", "institution", "required_tier", "order", "updated_at"]
    list_filter = ["required_tier"]
    search_fields = ["title", "institution__name"]
    autocomplete_fields = ["institution"]
    list_select_related = ["institution", "required_tier"]
    fields = ["institution", ("title", "required_tier", "order"), "body", "source_notes"]
    citation_fields = ("body", "source_notes")
    formfield_overrides = {**URL_FIELDS, models.TextField: {"widget": AdminTextareaWidget(attrs={"rows": 8})}}
