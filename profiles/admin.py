"""The analyst admin: profiles with every section inline, edited under an optimistic lock.

Who may do what (groups are data, see migration 0002):
- Analysts add profiles and change those assigned to them (guardian `change_institution` on the
  profile); lead analysts hold that permission globally; moderators read profiles but do not
  change their text. Inline children follow their profile: editable exactly where it is.
- New evidence and relationships enter review as "submitted" by the analyst (`profiles.review`);
  review fields are read-only everywhere. Moderators work from the moderation queues
  (`/admin/profiles/evidenceitem/queue/`, `/admin/profiles/relationship/queue/`, linked from the
  admin index with a pending count), whose approve / reject actions and the change form's
  Approve / Reject… / Retract… buttons call `profiles.review` object by object, never `.update()`.
- Edit history (simple-history) is read-only here: a revert would skip both the lock and review.
- Saving text that cites evidence (`[^ev:42]`) warns about citations readers will never see.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.contrib.admin.widgets import AdminTextareaWidget
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Count
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.timesince import timesince
from guardian.admin import GuardedModelAdminMixin
from guardian.core import ObjectPermissionChecker
from simple_history.admin import SimpleHistoryAdmin

from audit.services import user_label
from membership.admin_actions import DecisionActionsMixin
from membership.models import Tier

from . import permissions, publication, review, services
from .admin_grants import ObjectPermissionsForms
from .citations import CITATION_HELP, citation_problems
from .forms import (
    FAQFormSet,
    InstitutionAdminForm,
    ProfileChildForm,
    ProfileChildFormSet,
    RelatedLinkForm,
    RelationshipForm,
    RelationshipFormSet,
    ReviewDecisionForm,
    ReviewedFormSet,
    add_citation_help,
    add_review_help,
)
from .models import (
    Briefing,
    EvidenceItem,
    FAQItem,
    Institution,
    RelatedLink,
    Relationship,
    ReviewRecord,
    ReviewState,
    Sector,
    TimelineEvent,
    Watchpoint,
)
from .paginators import EstimatedCountPaginator
from .review_changes import changes_since_approval
from .search import refresh_search_index

#: Shorter text boxes in inlines; URLs typed without a scheme become https:// ones.
COMPACT_TEXT = {
    models.TextField: {"widget": AdminTextareaWidget(attrs={"rows": 3})},
    models.URLField: {"assume_scheme": "https"},
}
URL_FIELDS = {models.URLField: {"assume_scheme": "https"}}


# --- permission helpers (one guardian checker per request, so inlines cost no extra queries) ----


def _checker(request) -> ObjectPermissionChecker:
    checker = getattr(request, "_btw_perm_checker", None)
    if checker is None:
        checker = request._btw_perm_checker = ObjectPermissionChecker(request.user)
    return checker


def can_edit(request, institution) -> bool:
    return permissions.can_edit_institution(request.user, institution, checker=_checker(request))


def can_see(request, institution) -> bool:
    """A profile is in a staff member's admin if they edit it or moderate it."""
    user = request.user
    if permissions.sees_every_institution(user) or can_edit(request, institution):
        return True
    return _checker(request).has_perm("moderate_evidence", institution)


def may_moderate(request) -> bool:
    """Whether this staff member moderates any profile (cached for the request)."""
    cached = getattr(request, "_btw_may_moderate", None)
    if cached is None:
        cached = request._btw_may_moderate = permissions.moderates_anything(request.user)
    return cached


def warn_about_citations(request, institution, texts) -> None:
    """Saving succeeds; the analyst is told which citations readers will never see, and why."""
    for problem in citation_problems(institution, texts):
        messages.warning(request, problem.message)


def _autocomplete_field(request) -> str | None:
    match = getattr(request, "resolver_match", None)
    if match is not None and match.url_name == "autocomplete":
        return request.GET.get("field_name", "")
    return None


#: Autocomplete fields that may point at any profile (linking is not editing).
LINK_TARGET_FIELDS = {"target"}




class OutOfScopeIs403:
    """An object that exists but lies outside the user's profiles is a 403, not a redirect."""

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None and from_field is None:
            try:
                exists = self.model._default_manager.filter(pk=object_id).exists()
            except (ValueError, TypeError, ValidationError):
                exists = False
            if exists:
                raise PermissionDenied("This belongs to a profile that is not assigned to you.")
        return obj


class ReadOnlyHistoryAdmin(SimpleHistoryAdmin):
    """Edit history to read and compare. Reverting is off: it would bypass the optimistic lock
    and send reviewed content live without a moderator, so a revert POST is refused.

    Every profile changelist is also built for scale: no second "full result" COUNT, and an
    estimated count for a whole million-row table (profiles.paginators).
    """

    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def revert_disabled(self, request, obj=None):
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)


# --- inlines: every section of the profile page -------------------------------------------------


class ProfileChildInline:
    """Inline permissions follow the parent profile: add, change and delete only where it is editable."""

    extra = 0
    formfield_overrides = COMPACT_TEXT
    form = ProfileChildForm
    formset = ProfileChildFormSet

    def _profile_editable(self, request, obj) -> bool:
        if obj is None or obj.pk is None:  # the add form: whoever may create a profile fills it in
            return request.user.has_perm("profiles.add_institution")
        return can_edit(request, obj)

    def has_add_permission(self, request, obj):
        return super().has_add_permission(request, obj) and self._profile_editable(request, obj)

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


def cite_as(obj):
    """The marker an analyst types in profile text to cite this evidence item."""
    if obj is None or obj.pk is None:
        return "— (save first: the marker needs the item's number)"
    return format_html("<code>[^ev:{}]</code>", obj.pk)


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


class WatchpointInline(ProfileChildInline, admin.TabularInline):
    model = Watchpoint
    fields = ["order", "kind", "text", "required_tier", "status", "triggered_at"]


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

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "required_tier":
            kwargs["queryset"] = Tier.objects.members_only()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# --- the profile ---------------------------------------------------------------------------------


@admin.register(Institution)
class InstitutionAdmin(ObjectPermissionsForms, OutOfScopeIs403, GuardedModelAdminMixin, ReadOnlyHistoryAdmin):
    form = InstitutionAdminForm
    change_form_template = "admin/profiles/institution/change_form.html"
    object_permission_codenames = ("change_institution", "moderate_evidence")
    inlines = [
        EvidenceItemInline,
        RelationshipInline,
        WatchpointInline,
        TimelineEventInline,
        FAQItemInline,
        RelatedLinkInline,
        BriefingInline,
    ]
    prepopulated_fields = {"slug": ("name",)}
    autocomplete_fields = ["sectors"]
    fieldsets = [
        ("Identity & at a glance", {
            "fields": ["name", "slug", ("type", "base_region"), "profile_focus", "sectors", "dek", "key_points"],
        }),
        ("Story", {"fields": ["headline", "body"], "description": "“What happened”: the news and its analysis."}),
        ("Domain", {"fields": ["domain_summary", "public_role", "operating_surface", "what_it_does"]}),
        ("Assessment", {
            "fields": ["why_it_matters", ("criticality", "time_horizon"), "what_to_watch", "public_view", "caveats"],
        }),
        ("Publishing", {
            "fields": [
                "status", "published_at", "publication_checklist", "public_updated_at", "last_saved", "loaded_version",
            ],
            "description": "Drafts, scheduled and archived profiles are hidden from readers; "
            "“Preview on site” shows them to staff with a preview banner. A profile is published or "
            "scheduled only once its publication checklist is complete.",
        }),
    ]
    readonly_fields = ["public_updated_at", "last_saved", "publication_checklist"]
    list_display = [
        "name", "type", "base_region", "criticality", "time_horizon", "status", "published_at", "updated_at",
        "last_edited_by",
    ]
    list_filter = ["status", "type", "base_region", "criticality", "time_horizon", "sectors", "updated_at"]
    search_fields = ["name", "slug", "dek"]
    list_select_related = ["last_edited_by"]
    list_per_page = 50
    save_on_top = True

    def view_on_site(self, obj):
        """A path on this site (not the Sites framework's domain); drafts open as a staff preview."""
        return obj.get_absolute_url()

    @admin.display(description="last saved")
    def last_saved(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        editor = obj.last_edited_by
        who = (editor.get_full_name() or editor.get_username()) if editor else "unknown"
        when = formats.date_format(timezone.localtime(obj.updated_at), "j M Y, H:i")
        return f"version {obj.version}, by {who}, {when}"

    @admin.display(description="publication checklist")
    def publication_checklist(self, obj):
        """What the publication guard asks for, as stored: done, or what is missing and where to act."""
        checks = publication.publication_checklist(obj)
        return format_html(
            '<ul class="publication-checklist">{}</ul>',
            format_html_join("", "{}", ((self._checklist_item(check),) for check in checks)),
        )

    @staticmethod
    def _checklist_item(check):
        links = format_html_join(" · ", '<a href="{}">{}</a>', ((link.url, link.text) for link in check.links))
        details = format_html_join("", "<li>{}</li>", ((detail,) for detail in check.details))
        return format_html(
            '<li class="publication-check {}"><strong>{}</strong> {}{}{}{}</li>',
            "done" if check.ok else "missing",
            "✓ Done:" if check.ok else "✗ Missing:",
            check.label,
            format_html(" — {}", check.missing) if check.missing else "",
            format_html("<ul>{}</ul>", details) if check.details else "",
            format_html(' <span class="publication-links">{}</span>', links) if check.links else "",
        )

    # Scope: an analyst's admin holds the profiles assigned to them.

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        field = _autocomplete_field(request)
        if field in LINK_TARGET_FIELDS:
            return qs  # any staff member may *link to* any profile
        if field is not None:
            return permissions.editable_institutions(request.user, qs)
        return permissions.institutions_for_staff(request.user, qs)

    def has_view_permission(self, request, obj=None):
        if not super().has_view_permission(request, obj):
            return False
        return obj is None or can_see(request, obj)

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return request.user.has_perm(permissions.CHANGE_PERM)
        return can_edit(request, obj)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            return [(name, {**opts, "fields": [f for f in opts["fields"] if f != "loaded_version"]})
                    for name, opts in fieldsets]
        if publication.may_override(request.user):  # the override field exists for superusers only
            return [(name, {**opts, "fields": self._with_override(opts["fields"])}) for name, opts in fieldsets]
        return fieldsets

    @staticmethod
    def _with_override(fields):
        """The publishing fields, with the superuser's override reason after the checklist."""
        if "publication_checklist" not in fields or "override_reason" in fields:
            return fields
        at = fields.index("publication_checklist") + 1
        return [*fields[:at], "override_reason", *fields[at:]]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_manage_object_permissions"] = request.user.has_perm(permissions.CHANGE_PERM)
        context["citation_help"] = CITATION_HELP
        return super().render_change_form(request, context, add, change, form_url, obj)

    # Saving: the lock, then the children.

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.stale_edit = getattr(request, "_btw_stale_edit", None)
        form.may_override = publication.may_override(request.user)
        form.publication_refused = getattr(request, "_btw_publication_refused", None)
        return form

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except services.StaleEdit as stale:
            # Another save won the race between our clean() and our UPDATE. The view's atomic
            # block has rolled everything back (profile and inlines); show the form again,
            # with the editor's input and the conflict message, and save nothing.
            request._btw_stale_edit = stale
            return super().changeform_view(request, object_id, form_url, extra_context)
        except publication.PublicationRefused as refused:
            # clean() passed, but the service's final guard, judging the saved submission (inline
            # rows included), refused to publish. Everything has rolled back; show the form again
            # with the editor's input and what is missing, and save nothing.
            request._btw_publication_refused = refused
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        """Nothing is written yet: `save_related` saves the profile and its inlines in one service
        call, so the publication guard judges the whole submission."""
        obj._history_user = request.user

    def save_related(self, request, form, formsets, change):
        save_children = super().save_related
        services.save_institution(
            institution=form.instance,
            user=request.user,
            form_version=form.form_version if change else None,
            override_reason=form.override,
            save_children=lambda: save_children(request, form, formsets, change),
        )
        refresh_search_index([form.instance.pk])  # sectors and children are saved only now
        warn_about_citations(request, form.instance, publication.cited_texts(form.instance))

    def save_formset(self, request, form, formset, change):
        if formset.model in (EvidenceItem, Relationship):
            instances = formset.save(commit=False)
            for item in formset.deleted_objects:
                item.delete()
            for item in instances:
                services.save_reviewed_item(item=item, user=request.user)
            formset.save_m2m()
        elif formset.model is FAQItem:
            instances = formset.save(commit=False)
            services.save_faq_items(items=instances, deleted=formset.deleted_objects)
        else:
            super().save_formset(request, form, formset, change)


@admin.register(Sector)
class SectorAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "profile_count"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ("name",)}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(profile_count=Count("institutions"))

    @admin.display(description="profiles", ordering="profile_count")
    def profile_count(self, obj):
        return obj.profile_count


# --- each child on its own page (search across profiles; evidence and relationships: moderation) --


class ProfileChildAdmin(OutOfScopeIs403, ReadOnlyHistoryAdmin):
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
        if permissions.sees_every_institution(request.user):
            return qs
        return qs.filter(**{f"{self.parent_field}__in": permissions.institutions_for_staff(request.user)})

    def has_view_permission(self, request, obj=None):
        """Within the staff member's profiles only — this also scopes history pages, which load
        objects (even deleted ones) from the history tables instead of `get_queryset`."""
        return super().has_view_permission(request, obj) and (obj is None or self.in_scope(request, obj))

    def in_scope(self, request, obj) -> bool:
        if permissions.sees_every_institution(request.user):
            return True
        field = self.model._meta.get_field(self.parent_field)
        parent = field.get_cached_value(obj, None)
        if parent is None:  # a history page's object: its profile may since have been deleted
            parent = Institution.objects.filter(pk=getattr(obj, field.attname)).first()
        return parent is not None and can_see(request, parent)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or can_edit(request, self.parent(obj)))

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or can_edit(request, self.parent(obj)))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == self.parent_field:
            kwargs["queryset"] = permissions.editable_institutions(request.user)
        elif db_field.name == "required_tier" and self.model is Briefing:
            kwargs["queryset"] = Tier.objects.members_only()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if self.citation_fields:
            add_citation_help(form.base_fields)
        return form

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if self.citation_fields:
            label = self.model._meta.verbose_name
            texts = [(f"{label} {self.model._meta.get_field(name).verbose_name}", getattr(obj, name))
                     for name in self.citation_fields]
            warn_about_citations(request, self.parent(obj), texts)


REVIEW_MOVES = {
    "approve": review.approve,
    "reject": review.reject,
    "retract": review.retract,
}
#: The buttons a moderator sees on an item's page, by its state.
REVIEW_BUTTONS = {
    ReviewState.SUBMITTED: ("approve", "reject"),
    ReviewState.APPROVED: ("retract",),
}
PAST_TENSE = {"approve": "approved", "reject": "rejected", "retract": "retracted"}


class ReviewedChildAdmin(DecisionActionsMixin, ProfileChildAdmin):
    """Evidence and relationships: review fields are read-only; saves go through the review workflow.

    Moderators decide from the moderation queue (`queue/`: submitted items of the profiles they
    moderate, oldest first), from the changelist's actions, or with the buttons on an item's page
    (`<id>/review/`). Every decision is taken by `profiles.review`, object by object, so four eyes,
    permissions and the row lock hold, and history, review records and the admin log all record it.
    """

    readonly_fields = [
        "review_state", "submitted_by", "reviewed_by", "reviewed_at", "review_note", "review_records",
        "review_authors", "review_changes",
    ]
    change_form_template = "admin/profiles/reviewed_change_form.html"
    queue_template = "admin/profiles/review_queue.html"
    decide_template = "admin/profiles/review_decide.html"
    decision_form_class = ReviewDecisionForm
    decision_errors = (review.ReviewError, PermissionDenied)
    decision_objects_name = "items"
    actions = ["approve_selected", "reject_selected", "retract_selected"]
    #: The moderation queue's columns; the first links to the item.
    queue_list_display: tuple[str, ...] = ()
    queue_select_related: tuple[str, ...] = ()

    def save_model(self, request, obj, form, change):
        obj._history_user = request.user
        services.save_reviewed_item(item=obj, user=request.user)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        add_review_help(form.base_fields, self.model)
        return form

    def get_readonly_fields(self, request, obj=None):
        """An item stays with its profile: moving it means a new item (`profiles.review`)."""
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.pk is not None:
            fields.append(self.model.review_owner_field)
        return fields

    def has_delete_permission(self, request, obj=None):
        """Approved and retracted items stay on record (a moderator retracts); bulk deletes obey this too."""
        if obj is not None and obj.review_state in (ReviewState.APPROVED, ReviewState.RETRACTED):
            return False
        return super().has_delete_permission(request, obj)

    def has_view_permission(self, request, obj=None):
        """Per-profile moderators (guardian only, no model permission) still read what they decide."""
        if super().has_view_permission(request, obj):
            return True
        if not may_moderate(request):
            return False
        return obj is None or permissions.can_moderate(request.user, self.parent(obj))

    def has_module_permission(self, request):
        """Per-profile moderators find evidence and relationships on the admin index too."""
        return super().has_module_permission(request) or may_moderate(request)

    def has_moderate_permission(self, request):
        """`permissions=["moderate"]` on the actions; each item is checked again by `profiles.review`."""
        return may_moderate(request)

    # --- the moderation queue: the changelist, narrowed -------------------------------------------

    def in_queue(self, request) -> bool:
        return getattr(request, "_btw_review_queue", False)

    def get_queryset(self, request):
        if self.in_queue(request):
            return review.review_queue(request.user, self.model).select_related(*self.queue_select_related)
        return super().get_queryset(request)

    def get_ordering(self, request):
        if self.in_queue(request):
            return ["submitted_at", "pk"]
        return super().get_ordering(request)

    def get_list_display(self, request):
        return self.queue_list_display if self.in_queue(request) else super().get_list_display(request)

    def get_list_display_links(self, request, list_display):
        if self.in_queue(request):
            return self.queue_list_display[:1]
        return super().get_list_display_links(request, list_display)

    def get_list_filter(self, request):
        return () if self.in_queue(request) else super().get_list_filter(request)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self.in_queue(request):
            return {name: action for name, action in actions.items() if name in ("approve_selected", "reject_selected")}
        return actions

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        return [
            path("queue/", self.admin_site.admin_view(self.queue_view), name="{}_{}_queue".format(*info)),
            path(
                "<path:object_id>/review/",
                self.admin_site.admin_view(self.review_view),
                name="{}_{}_review".format(*info),
            ),
            *super().get_urls(),
        ]

    def queue_view(self, request, extra_context=None):
        """Submitted items this moderator may decide, oldest first, with approve / reject actions."""
        if not may_moderate(request):
            raise PermissionDenied
        request._btw_review_queue = True
        opts = self.model._meta
        context = {
            "title": f"Moderation queue: {opts.verbose_name_plural}",
            "subtitle": None,
            "all_items_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
            **(extra_context or {}),
        }
        response = self.changelist_view(request, context)
        if isinstance(response, TemplateResponse) and "cl" in (response.context_data or {}):
            response.template_name = self.queue_template  # not the note page an action may return
        return response

    def changelist_view(self, request, extra_context=None):
        # A forged POST of a moderation action by someone who moderates nothing: say so plainly
        # (Django alone would answer "No action selected", which explains nothing).
        if request.method == "POST" and request.POST.get("action") in self.actions and not may_moderate(request):
            self.message_user(
                request,
                "Only moderators approve, reject or retract evidence and relationships; nothing was changed.",
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())
        return super().changelist_view(request, extra_context)

    @admin.display(description="submitted", ordering="submitted_at")
    def queue_age(self, obj):
        return format_html(
            '<time datetime="{}" title="{}">{}</time>',
            obj.submitted_at.isoformat(),
            formats.date_format(timezone.localtime(obj.submitted_at), "j M Y, H:i"),
            f"{timesince(obj.submitted_at, depth=1)} ago",
        )

    @admin.display(description="submitted by", ordering="submitted_by__username")
    def queue_submitter(self, obj):
        user = obj.submitted_by
        return (user.get_full_name() or user.get_username()) if user else "—"

    # --- actions: a note page, then object by object -----------------------------------------------

    @admin.action(description="Approve selected items…", permissions=["moderate"])
    def approve_selected(self, request, queryset):
        return self._review_action(request, queryset, "approve", "approve_selected")

    @admin.action(description="Reject selected items…", permissions=["moderate"])
    def reject_selected(self, request, queryset):
        return self._review_action(request, queryset, "reject", "reject_selected")

    @admin.action(description="Retract selected items…", permissions=["moderate"])
    def retract_selected(self, request, queryset):
        return self._review_action(request, queryset, "retract", "retract_selected")

    def _review_action(self, request, queryset, decision, action):
        """The chosen items, looked up in the staff member's whole scope, not just the queue: an
        item decided by a colleague since the queue was loaded is then reported as "already
        approved…" rather than silently dropped. Ids outside that scope are named and skipped."""
        if request.POST.get("select_across") != "1":
            selected = [pk for pk in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME) if pk.isdigit()]
            queryset = self.scoped(request, self.model._default_manager.filter(pk__in=selected))
            items = list(queryset.select_related("submitted_by", "reviewed_by").prefetch_related("authors"))
            missing = sorted(set(selected) - {str(item.pk) for item in items}, key=int)
            if missing and request.POST.get("confirm"):
                for pk in missing:
                    self.message_user(
                        request,
                        f"Item #{pk}: not found among the items you may see; nothing was changed.",
                        messages.ERROR,
                    )
        else:
            items = list(queryset.select_related("submitted_by", "reviewed_by").prefetch_related("authors"))
        return self.decision_page(request, items, decision, action=action)

    def decision_page(self, request, objects, decision, **kwargs):
        objects = list(objects)
        for item in objects:
            item.review_warning = self._warning(request, item, decision)
        return super().decision_page(request, objects, decision, **kwargs)

    def _warning(self, request, item, decision) -> str:
        """Why this row will be refused, shown on the note page before anything is decided."""
        if not permissions.can_moderate(request.user, self.parent(item)):
            return "not a profile you moderate: will be left as is"
        if review.is_author(item, request.user):
            return "you wrote or changed it: another moderator must decide it"
        allowed = REVIEW_BUTTONS.get(item.review_state, ())
        if decision in REVIEW_MOVES and decision not in allowed:
            return f"already {item.get_review_state_display().lower()}: will be left as is"
        return ""

    def decide_one(self, request, obj, decision, note):
        REVIEW_MOVES[decision](obj, actor=request.user, note=note)

    def decision_label(self, obj):
        return f"“{Truncator(str(obj)).chars(70)}” (#{obj.pk})"

    def decision_log_message(self, obj, decision, note):
        return f"{PAST_TENSE[decision].capitalize()} in review. {note}".strip()

    def decision_done_message(self, count, decision):
        noun = self.model._meta.verbose_name if count == 1 else self.model._meta.verbose_name_plural
        who = "its submitter is" if count == 1 else "their submitters are"
        return f"{count} {noun} {PAST_TENSE[decision]}; {who} e-mailed the decision."

    def decision_title(self, decision):
        return f"{(decision or 'review').capitalize()} {self.model._meta.verbose_name_plural}"

    def after_single_decision(self, request, obj):
        opts = self.model._meta
        return redirect(f"admin:{opts.app_label}_{opts.model_name}_change", obj.pk)

    # --- one item: the change form's buttons -------------------------------------------------------

    def review_view(self, request, object_id):
        """Approve (one click), or reject / retract after a note, one item from its own page."""
        obj = self.get_object(request, unquote(object_id))  # out of scope: 403 (OutOfScopeIs403)
        if obj is None:
            raise Http404
        decision = request.POST.get("decision") or request.GET.get("decision")
        if decision not in REVIEW_MOVES:
            self.message_user(request, "Choose approve, reject or retract.", messages.ERROR)
            return self.after_single_decision(request, obj)
        if not permissions.can_moderate(request.user, self.parent(obj)):
            raise PermissionDenied("Only moderators of this profile decide its evidence and relationships.")
        return self.decision_page(request, [obj], decision, single=obj)

    def review_buttons(self, request, obj):
        """What the moderator may do from this page: button names, or why there are none."""
        if obj is None or not may_moderate(request) or not permissions.can_moderate(request.user, self.parent(obj)):
            return None
        if review.is_author(obj, request.user):
            return {"own": True, "buttons": ()}
        return {"own": False, "buttons": REVIEW_BUTTONS.get(obj.review_state, ())}

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        opts = self.model._meta
        extra_context = {
            **(extra_context or {}),
            "review": self.review_buttons(request, obj),
            "review_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_review", args=[obj.pk]) if obj else "",
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="review record")
    def review_records(self, obj):
        """Every transition of this item (append-only): who, when, from what, to what, and why."""
        if obj is None or obj.pk is None:
            return "—"
        records = ReviewRecord.objects.for_item(obj)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{} → {}</td><td>{}</td></tr>",
            (
                (
                    formats.date_format(timezone.localtime(r.created_at), "j M Y, H:i"),
                    (r.actor.get_full_name() or r.actor.get_username()) if r.actor else "—",
                    r.get_from_state_display() or "new",
                    r.get_to_state_display(),
                    r.note or "",
                )
                for r in records
            ),
        )
        if not rows:
            return "No review decisions yet."
        return format_html(
            '<table class="review-records"><thead><tr><th scope="col">When</th><th scope="col">Who</th>'
            '<th scope="col">Move</th><th scope="col">Note</th></tr></thead><tbody>{}</tbody></table>',
            rows,
        )

    @admin.display(description="authors since the last approval")
    def review_authors(self, obj):
        """Four eyes: none of these people may approve the item (one query)."""
        if obj is None or obj.pk is None:
            return "—"
        people = {user.pk: user for user in obj.authors.all()}
        if obj.submitted_by_id is not None and obj.submitted_by is not None:
            people.setdefault(obj.submitted_by_id, obj.submitted_by)
        names = sorted(user_label(user) for user in people.values())
        return ", ".join(names) if names else "—"

    @admin.display(description="changes since the last approval")
    def review_changes(self, obj):
        """A word-level diff of every reviewed field that differs from the approved version."""
        if obj is None or obj.pk is None:
            return "—"
        changes = changes_since_approval(obj)
        if changes is None:
            return "Never approved: every field is new to review."
        if not changes:
            return "No reviewed field differs from the approved version."
        tags = {"same": "{}", "removed": "<del>{}</del>", "added": "<ins>{}</ins>"}

        def diff(change):
            return format_html_join(" ", "{}", ((format_html(tags[op], text),) for op, text in change.segments))

        rows = format_html_join(
            "", "<tr><th scope=\"row\">{}</th><td>{}</td></tr>", ((c.label, diff(c)) for c in changes)
        )
        return format_html(
            '<table class="review-changes"><thead><tr><th scope="col">Field</th>'
            '<th scope="col">Approved → now</th></tr></thead><tbody>{}</tbody></table>',
            rows,
        )


@admin.register(EvidenceItem)
class EvidenceItemAdmin(ReviewedChildAdmin):
    list_display = [
        "title", "institution", "publisher", "kind", "source_date", "required_tier", "review_state", "submitted_by",
        "updated_at",
    ]
    list_filter = ["review_state", "kind", "required_tier", "source_date"]
    search_fields = ["title", "publisher", "claim", "url", "institution__name"]
    autocomplete_fields = ["institution"]
    list_select_related = ["institution", "required_tier", "submitted_by"]
    readonly_fields = [*ReviewedChildAdmin.readonly_fields, "cite_as"]
    fieldsets = [
        (None, {"fields": ["institution", ("url", "kind"), ("publisher", "title"), ("source_date", "retrieved_at"),
                           "claim", "quote", "archive_url", "required_tier"]}),
        ("Review", {"fields": [("review_state", "submitted_by"), ("reviewed_by", "reviewed_at"), "review_note",
                               "review_authors", "review_changes", "review_records", "cite_as"]}),
    ]
    queue_list_display = ("queue_claim", "queue_source", "institution", "required_tier", "queue_submitter",
                          "queue_age")
    queue_select_related = ("institution", "required_tier", "submitted_by")

    @admin.display(description="cite as")
    def cite_as(self, obj):
        return cite_as(obj)

    @admin.display(description="claim")
    def queue_claim(self, obj):
        return Truncator(obj.claim).chars(120)

    @admin.display(description="source", ordering="publisher")
    def queue_source(self, obj):
        return format_html(
            '{} — <a href="{}" target="_blank" rel="noopener noreferrer">{}</a>',
            obj.publisher, obj.url, Truncator(obj.title).chars(80),
        )


@admin.register(Relationship)
class RelationshipAdmin(ReviewedChildAdmin):
    parent_field = "source"
    form = RelationshipForm
    list_display = ["source", "kind", "target", "since", "review_state", "submitted_by", "updated_at"]
    list_filter = ["review_state", "kind"]
    search_fields = ["source__name", "target__name", "description"]
    autocomplete_fields = ["source", "target", "evidence"]
    list_select_related = ["source", "target", "submitted_by"]
    fieldsets = [
        (None, {"fields": ["source", "kind", "target", "since", "description", "evidence"]}),
        ("Review", {"fields": [("review_state", "submitted_by"), ("reviewed_by", "reviewed_at"), "review_note",
                               "review_authors", "review_changes", "review_records"]}),
    ]
    queue_list_display = ("queue_relationship", "queue_description", "queue_evidence", "queue_submitter",
                          "queue_age")
    queue_select_related = ("source", "target", "evidence", "submitted_by")

    def scoped(self, request, qs):
        return super().scoped(request, qs).select_related("target")

    @admin.display(description="relationship")
    def queue_relationship(self, obj):
        return str(obj)

    @admin.display(description="description")
    def queue_description(self, obj):
        return Truncator(obj.description).chars(120) or "—"

    @admin.display(description="evidence")
    def queue_evidence(self, obj):
        item = obj.evidence
        if item is None:
            return "—"
        return format_html(
            '{} — <a href="{}" target="_blank" rel="noopener noreferrer">{}</a> ({})',
            item.publisher, item.url, Truncator(item.title).chars(60), item.get_review_state_display().lower(),
        )


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
