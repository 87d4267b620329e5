"""The analyst admin: profiles with every section inline, edited under an optimistic lock.

Who may do what (groups are data, see migration 0002):
- Analysts add profiles and change those assigned to them (guardian `change_institution` on the
  profile); lead analysts hold that permission globally; moderators read profiles but do not
  change their text. Inline children follow their profile: editable exactly where it is.
- New evidence and relationships enter review as "submitted" by the analyst (`profiles.review`).
  The moderation queue and its approve/reject actions belong on `EvidenceItemAdmin` and
  `RelationshipAdmin` (see `ReviewedChildAdmin`); they call `profiles.review`, never `.update()`.
- Edit history (simple-history) is read-only here: a revert would skip both the lock and review.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.widgets import AdminTextareaWidget
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Count
from django.http import Http404
from django.utils import formats, timezone
from guardian.admin import AdminGroupObjectPermissionsForm, AdminUserObjectPermissionsForm, GuardedModelAdminMixin
from guardian.core import ObjectPermissionChecker
from simple_history.admin import SimpleHistoryAdmin

from membership.models import Tier

from . import services
from .forms import (
    FAQFormSet,
    InstitutionAdminForm,
    ProfileChildForm,
    ProfileChildFormSet,
    RelatedLinkForm,
    RelationshipForm,
    RelationshipFormSet,
    ReviewedFormSet,
)
from .models import (
    Briefing,
    EvidenceItem,
    FAQItem,
    Institution,
    RelatedLink,
    Relationship,
    ReviewState,
    Sector,
    TimelineEvent,
    Watchpoint,
)
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
    return services.can_edit_institution(request.user, institution, checker=_checker(request))


def can_see(request, institution) -> bool:
    """A profile is in a staff member's admin if they edit it or moderate it."""
    user = request.user
    if services.sees_every_institution(user) or can_edit(request, institution):
        return True
    return _checker(request).has_perm("moderate_evidence", institution)


def _autocomplete_field(request) -> str | None:
    match = getattr(request, "resolver_match", None)
    if match is not None and match.url_name == "autocomplete":
        return request.GET.get("field_name", "")
    return None


#: Autocomplete fields that may point at any profile (linking is not editing).
LINK_TARGET_FIELDS = {"target"}


class ObjectPermissionsForms:
    """Limit guardian's object-permissions page to the permissions that mean something here."""

    object_permission_codenames: tuple[str, ...] = ()

    def get_obj_perms_manage_user_form(self, request):
        return _limited(AdminUserObjectPermissionsForm, self.object_permission_codenames)

    def get_obj_perms_manage_group_form(self, request):
        return _limited(AdminGroupObjectPermissionsForm, self.object_permission_codenames)

    def _check_object(self, request, object_pk):
        obj = self.get_object(request, object_pk)
        if obj is None:
            raise Http404
        if not self.has_change_permission(request, obj):
            raise PermissionDenied

    def obj_perms_manage_view(self, request, object_pk):
        self._check_object(request, object_pk)
        return super().obj_perms_manage_view(request, object_pk)

    def obj_perms_manage_user_view(self, request, object_pk, user_id):
        self._check_object(request, object_pk)
        return super().obj_perms_manage_user_view(request, object_pk, user_id)

    def obj_perms_manage_group_view(self, request, object_pk, group_id):
        self._check_object(request, object_pk)
        return super().obj_perms_manage_group_view(request, object_pk, group_id)


def _limited(base, codenames):
    class Limited(base):
        def get_obj_perms_field_choices(self):
            return [choice for choice in super().get_obj_perms_field_choices() if choice[0] in codenames]

    Limited.__name__ = f"Limited{base.__name__}"
    return Limited


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
    and send reviewed content live without a moderator, so a revert POST is refused."""

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


class EvidenceItemInline(ProfileChildInline, admin.StackedInline):
    model = EvidenceItem
    formset = ReviewedFormSet
    show_change_link = True
    fieldsets = [
        (None, {"fields": [("url", "kind"), ("publisher", "title"), ("source_date", "retrieved_at"), "claim",
                           "required_tier"]}),
        ("Quote and archived copy", {"classes": ["collapse"], "fields": ["quote", "archive_url"]}),
        ("Review", {
            "fields": [("review_state", "submitted_by"), ("reviewed_by", "reviewed_at"), "review_note"],
            "description": "New and edited evidence waits for a moderator; readers see only approved items.",
        }),
    ]
    readonly_fields = ("review_state", "submitted_by", "reviewed_by", "reviewed_at", "review_note")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("submitted_by", "reviewed_by")


class RelationshipInline(ProfileChildInline, admin.TabularInline):
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
            "fields": ["status", "published_at", "public_updated_at", "last_saved", "loaded_version"],
            "description": "Drafts, scheduled and archived profiles are hidden from readers; "
            "“Preview on site” shows them to staff with a preview banner.",
        }),
    ]
    readonly_fields = ["public_updated_at", "last_saved"]
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

    # Scope: an analyst's admin holds the profiles assigned to them.

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        field = _autocomplete_field(request)
        if field in LINK_TARGET_FIELDS:
            return qs  # any staff member may *link to* any profile
        if field is not None:
            return services.editable_institutions(request.user, qs)
        return services.institutions_for_staff(request.user, qs)

    def has_view_permission(self, request, obj=None):
        if not super().has_view_permission(request, obj):
            return False
        return obj is None or can_see(request, obj)

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return request.user.has_perm(services.CHANGE_PERM)
        return can_edit(request, obj)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            return [(name, {**opts, "fields": [f for f in opts["fields"] if f != "loaded_version"]})
                    for name, opts in fieldsets]
        return fieldsets

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_manage_object_permissions"] = request.user.has_perm(services.CHANGE_PERM)
        return super().render_change_form(request, context, add, change, form_url, obj)

    # Saving: the lock, then the children.

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.stale_edit = getattr(request, "_btw_stale_edit", None)
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

    def save_model(self, request, obj, form, change):
        obj._history_user = request.user
        services.save_institution(
            institution=obj, user=request.user, form_version=form.form_version if change else None
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        refresh_search_index([form.instance.pk])  # sectors and children are saved only now

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


# --- each child on its own page (search across profiles; the moderation queue lives here later) --


class ProfileChildAdmin(OutOfScopeIs403, ReadOnlyHistoryAdmin):
    """A child of a profile: listed, changed and deleted only within the staff member's profiles."""

    parent_field = "institution"
    formfield_overrides = COMPACT_TEXT
    form = ProfileChildForm
    list_per_page = 50

    def parent(self, obj):
        return getattr(obj, self.parent_field)

    def get_queryset(self, request):
        # Django's changelist skips `list_select_related` once a queryset has any select_related,
        # so name them all here.
        qs = super().get_queryset(request).select_related(self.parent_field, *self.list_select_related)
        if services.sees_every_institution(request.user):
            return qs
        return qs.filter(**{f"{self.parent_field}__in": services.institutions_for_staff(request.user)})

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (obj is None or can_edit(request, self.parent(obj)))

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or can_edit(request, self.parent(obj)))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == self.parent_field:
            kwargs["queryset"] = services.editable_institutions(request.user)
        elif db_field.name == "required_tier" and self.model is Briefing:
            kwargs["queryset"] = Tier.objects.members_only()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ReviewedChildAdmin(ProfileChildAdmin):
    """Evidence and relationships: review fields are read-only; saves go through the review workflow.

    The moderation queue (submitted items of the profiles a moderator moderates, with bulk
    approve / reject-with-note actions calling `profiles.review`) is to be added here.
    """

    readonly_fields = ["review_state", "submitted_by", "reviewed_by", "reviewed_at", "review_note"]

    def save_model(self, request, obj, form, change):
        obj._history_user = request.user
        services.save_reviewed_item(item=obj, user=request.user)

    def has_delete_permission(self, request, obj=None):
        """Approved and retracted items stay on record (a moderator retracts); bulk deletes obey this too."""
        if obj is not None and obj.review_state in (ReviewState.APPROVED, ReviewState.RETRACTED):
            return False
        return super().has_delete_permission(request, obj)


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
    fieldsets = [
        (None, {"fields": ["institution", ("url", "kind"), ("publisher", "title"), ("source_date", "retrieved_at"),
                           "claim", "quote", "archive_url", "required_tier"]}),
        ("Review", {"fields": [("review_state", "submitted_by"), ("reviewed_by", "reviewed_at"), "review_note"]}),
    ]


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
        ("Review", {"fields": [("review_state", "submitted_by"), ("reviewed_by", "reviewed_at"), "review_note"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("target")


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


@admin.register(FAQItem)
class FAQItemAdmin(ProfileChildAdmin):
    list_display = ["question", "institution", "order"]
    search_fields = ["question", "answer", "institution__name"]
    autocomplete_fields = ["institution"]
    list_select_related = ["institution"]


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
    formfield_overrides = {**URL_FIELDS, models.TextField: {"widget": AdminTextareaWidget(attrs={"rows": 8})}}
