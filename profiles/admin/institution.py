"""The profile's admin: every section inline, edited under an optimistic lock, published only
past the publication guard; and the sectors profiles are filed under.

Analysts add profiles and change those assigned to them; lead analysts change every profile;
moderators read them. Saving goes through `services.save_institution` (the lock, then the
children, then the guard, in one transaction). When that service refuses after the form was
valid (a stale edit, a refused publication), everything rolls back and the form comes back with
the editor's input and the reason: the refusal is handed to a fresh admin built for that one
answer (`InstitutionAdmin(..., refusal=...)`), whose form carries it.

Whoever may change a profile also confirms that its sections still hold, on a page of its own
(`<id>/confirm-sections/`, linked from the "last verified" line of the form and from the
re-verification queue), through `profiles.freshness`.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from guardian.admin import GuardedModelAdminMixin

from audit.services import user_label

from .. import corrections, freshness, permissions, publication, services
from ..citations import CITATION_HELP
from ..models import EvidenceItem, FAQItem, Institution, Relationship, Sector
from ..search import refresh_search_index
from .base import HistoryAdmin, warn_about_citations
from .corrections import InstitutionChangeForm, with_correction_fieldset
from .grants import ObjectPermissionsForms
from .inlines import PROFILE_INLINES
from .scope import OutOfScopeIs403, scope_of

#: The re-verification queue (profiles.admin.freshness), where a confirmation may start and end.
QUEUE_CHANGELIST = "admin:profiles_reverificationqueueitem_changelist"

#: Autocomplete fields that may point at any profile (linking is not editing).
LINK_TARGET_FIELDS = {"target"}


def _autocomplete_field(request) -> str | None:
    match = getattr(request, "resolver_match", None)
    if match is not None and match.url_name == "autocomplete":
        return request.GET.get("field_name", "")
    return None


@admin.register(Institution)
class InstitutionAdmin(ObjectPermissionsForms, OutOfScopeIs403, GuardedModelAdminMixin, HistoryAdmin):
    form = InstitutionChangeForm
    change_form_template = "admin/profiles/institution/change_form.html"
    object_permission_codenames = ("change_institution", "moderate_evidence")
    inlines = PROFILE_INLINES
    prepopulated_fields = {"slug": ("name",)}
    #: Sectors are a short, fixed list (demo_data.SECTORS): boxes to tick, each with its own label,
    #: rather than a select2 box whose markup axe-core finds inaccessible.
    formfield_overrides = {
        **HistoryAdmin.formfield_overrides, models.ManyToManyField: {"widget": forms.CheckboxSelectMultiple},
    }
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
                "status", "published_at", "publication_checklist", "public_updated_at", "last_verified", "last_saved",
                "loaded_version",
            ],
            "description": "Drafts, scheduled and archived profiles are hidden from readers; "
            "“Preview on site” shows them to staff with a preview banner. A profile is published or "
            "scheduled only once its publication checklist is complete.",
        }),
    ]
    readonly_fields = [
        "public_updated_at", "last_verified", "last_verified_info", "last_saved", "publication_checklist",
    ]
    list_display = [
        "name", "type", "base_region", "criticality", "time_horizon", "status", "published_at", "updated_at",
        "last_edited_by",
    ]
    list_filter = ["status", "type", "base_region", "criticality", "time_horizon", "sectors", "updated_at"]
    search_fields = ["name", "slug", "dek"]
    list_select_related = ["last_edited_by"]
    list_per_page = 50
    save_on_top = True

    def __init__(self, model, admin_site, *, refusal: Exception | None = None):
        super().__init__(model, admin_site)
        #: Why the last submission was not saved (`StaleEdit` or `PublicationRefused`), when this
        #: admin was built to show the form again; None for the registered admin.
        self.refusal = refusal

    def view_on_site(self, obj):
        """A path on this site (not the Sites framework's domain); drafts open as a staff preview."""
        return obj.get_absolute_url()

    @admin.display(description="last saved")
    def last_saved(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        who = user_label(obj.last_edited_by) if obj.last_edited_by else "unknown"
        when = formats.date_format(timezone.localtime(obj.updated_at), "j M Y, H:i")
        return f"version {obj.version}, by {who}, {when}"

    @admin.display(description="last verified")
    def last_verified_info(self, obj):
        """When and by whom the sections were last confirmed (what staff who may not confirm see)."""
        if obj is None or obj.pk is None:
            return "—"
        due = " Due for re-verification." if obj.is_due_for_reverification() else ""
        return f"{self.last_verified_summary(obj)}{due}"

    @admin.display(description="last verified")
    def last_verified(self, obj):
        """The same, with the way to confirm the sections again (for those who may change the profile)."""
        if obj is None or obj.pk is None:
            return "—"
        opts = self.opts
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_confirm_sections", args=[obj.pk])
        return format_html(
            '{} <a class="button confirm-sections" href="{}">Confirm sections still hold…</a>',
            self.last_verified_info(obj),
            url,
        )

    @admin.display(description="publication checklist")
    def publication_checklist(self, obj):
        """What the publication guard asks for, as stored: done, or what is missing and where to act."""
        checks = getattr(obj, "_publication_checks", None)
        if checks is None:
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
        return obj is None or scope_of(request).can_see(obj)

    def has_change_permission(self, request, obj=None):
        if obj is None:  # "may change some profile": an analyst's list offers their assignments to change
            return request.user.has_perm(permissions.CHANGE_PERM) or scope_of(request).edits_anything
        return scope_of(request).can_edit(obj)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            read_only = {"last_verified": "last_verified_info"}  # no "Confirm" for those who may not change it
            return [(name, {**opts, "fields": [read_only.get(f, f) for f in opts["fields"] if f != "loaded_version"]})
                    for name, opts in fieldsets]
        fieldsets = with_correction_fieldset(fieldsets, obj)
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
        if obj is not None and obj.pk is not None:
            # Shown twice (the panel at the top, the Publishing field), asked once, when the form is drawn.
            obj._publication_checks = context["publication_checks"] = publication.publication_checklist(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    # Freshness: "Confirm sections still hold", a page of its own (GET asks, POST confirms).

    def get_urls(self):
        opts = self.opts
        confirm = path(
            "<path:object_id>/confirm-sections/",
            self.admin_site.admin_view(self.confirm_sections_view),
            name=f"{opts.app_label}_{opts.model_name}_confirm_sections",
        )
        return [confirm, *super().get_urls()]

    def confirm_sections_view(self, request, object_id):
        """Ask, then record through `freshness.confirm_sections`: whoever may change the profile."""
        obj = self.get_object(request, unquote(object_id))  # out of an analyst's scope: 403
        if obj is None:
            raise Http404("No such profile.")
        if not scope_of(request).can_edit(obj):
            raise PermissionDenied("Only those who may change this profile confirm its sections.")
        change_url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk])
        # Opened from the re-verification queue (`?from=queue`): back to the queue, never elsewhere.
        back_url = reverse(QUEUE_CHANGELIST) if request.GET.get("from") == "queue" else change_url
        if request.method == "POST":
            freshness.confirm_sections(institution=obj, user=request.user)
            messages.success(request, f"Recorded: you confirmed that the sections of “{obj.name}” still hold.")
            return HttpResponseRedirect(back_url)
        context = {
            **self.admin_site.each_context(request),
            "title": "Confirm sections still hold",
            "subtitle": str(obj),
            "opts": self.opts,
            "object": obj,
            "change_url": change_url,
            "back_url": back_url,
            "last_verified": self.last_verified_summary(obj),
            "period_days": settings.BTW_REVERIFY_DAYS,
        }
        return TemplateResponse(request, "admin/profiles/institution/confirm_sections.html", context)

    @staticmethod
    def last_verified_summary(obj) -> str:
        if not obj.last_verified_at:
            return "Never confirmed."
        who = user_label(obj.last_verified_by) if obj.last_verified_by else "unknown"
        when = formats.date_format(timezone.localtime(obj.last_verified_at), "j F Y")
        return f"Last confirmed on {when} by {who}."

    # Saving: the lock, then the children.

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        refusal = self.refusal
        form.stale_edit = refusal if isinstance(refusal, services.StaleEdit) else None
        form.publication_refused = refusal if isinstance(refusal, publication.PublicationRefused) else None
        form.correction_refused = refusal if isinstance(refusal, corrections.CorrectionRefused) else None
        form.may_override = publication.may_override(request.user)
        return form

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (services.StaleEdit, publication.PublicationRefused, corrections.CorrectionRefused) as refusal:
            # StaleEdit: another save won the race between our clean() and our UPDATE.
            # PublicationRefused: clean() passed, but the service's final guard, judging the saved
            # submission (inline rows included), refused to publish. CorrectionRefused: the saved
            # edit cannot be marked as a correction (profiles.corrections). Either way the view's atomic
            # block has rolled everything back (profile and inlines). Show the form again with the
            # editor's input and the reason, and save nothing: the form of this one-off admin
            # reports the refusal as its error, so the second pass cannot save.
            if self.refusal is not None:
                raise
            again = type(self)(self.model, self.admin_site, refusal=refusal)
            return again.changeform_view(request, object_id, form_url, extra_context)

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
            correction_note=form.published_correction_note if change else "",
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
