"""The decision log: every review decision of the newsroom on one admin page, newest first.

Evidence and relationship decisions (approve, reject, retract) and Leadership Alliance application
decisions (approve, reject) are each recorded once, in the audit log (`audit.services.record`, called
inside the decision's transaction by `profiles.review` and `membership.services`); this page reads
those entries and keeps no record of its own. Each row says who decided, when, what, the outcome and
the note (the reason), filterable by outcome, kind and moderator, 50 to a page.

Scope: superusers, lead analysts and newsroom-wide moderators see every profile's decisions;
analysts and per-profile moderators see those on the profiles they work on
(`permissions.institutions_for_staff`). Application decisions name applicants, so only those who
decide applications or read the audit log see them.

Why it is registered on `ReviewRecord`: an admin page needs a registered model to hang its URL on,
and the audit log's own model already has its admin; `ReviewRecord` had none. Its only URL is this
page (`admin:profiles_reviewrecord_changelist`); it is left out of the app list and linked from the
admin index's desk (`profiles.dashboard`).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.template.response import TemplateResponse
from django.urls import path, reverse

from audit.admin import ReadOnlyAdmin
from audit.models import AuditEntry
from membership.models import Application

from .. import permissions
from ..models import EvidenceItem, Institution, Relationship, ReviewRecord, ReviewState

APPLICATION_REVIEW_PERM = "membership.review_application"
AUDIT_LOG_PERM = "audit.view_auditentry"
PER_PAGE = 50

#: The kinds of decision, by the model decided.
KINDS = {"evidence": EvidenceItem, "relationship": Relationship, "application": Application}
KIND_LABELS = {"evidence": "Evidence", "relationship": "Relationship", "application": "Application"}
#: Outcomes, as the audit entries record them (`data["to"]`).
OUTCOMES = {
    ReviewState.APPROVED: "Approved",
    ReviewState.REJECTED: "Rejected",
    ReviewState.RETRACTED: "Retracted",
}
APPLICATION_OUTCOMES = (Application.State.APPROVED, Application.State.REJECTED)


def _content_types() -> dict[str, ContentType]:
    """Cached by Django after the first call: no query per page."""
    return {key: ContentType.objects.get_for_model(model) for key, model in KINDS.items()}


def sees_application_decisions(user) -> bool:
    return user.is_superuser or user.has_perm(APPLICATION_REVIEW_PERM) or user.has_perm(AUDIT_LOG_PERM)


def decisions_visible_to(user):
    """Audit entries that record a decision `user` may read, newest first."""
    types = _content_types()
    reviews = Q(action=AuditEntry.Action.REVIEW, content_type__in=[types["evidence"], types["relationship"]])
    if not permissions.sees_every_institution(user):
        mine = list(permissions.institutions_for_staff(user).values_list("pk", flat=True))
        reviews &= Q(data__institution__in=mine)
    visible = reviews
    if sees_application_decisions(user):
        visible |= Q(
            action=AuditEntry.Action.APPLICATION,
            content_type=types["application"],
            data__to__in=list(APPLICATION_OUTCOMES),
        )
    return AuditEntry.objects.filter(visible).order_by("-created_at", "-pk")


class DecisionFilterForm(forms.Form):
    """The page's filters (GET): a bad value is reported on its field and that filter left off."""

    outcome = forms.ChoiceField(required=False, choices=[("", "Any outcome"), *OUTCOMES.items()])
    kind = forms.ChoiceField(required=False, choices=[("", "Any kind"), *KIND_LABELS.items()])
    moderator = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, choices=[("", "Anyone")])

    def __init__(self, data, *, moderators):
        super().__init__(data)
        self.fields["moderator"].choices = [("", "Anyone"), *moderators]

    def filter(self, queryset):
        cleaned = self.cleaned_data if self.is_bound else {}
        if cleaned.get("outcome"):
            queryset = queryset.filter(data__to=cleaned["outcome"])
        if cleaned.get("kind"):
            queryset = queryset.filter(content_type=_content_types()[cleaned["kind"]])
        if cleaned.get("moderator"):
            queryset = queryset.filter(actor_id=cleaned["moderator"])
        return queryset


def moderator_choices(queryset) -> list[tuple[int, str]]:
    """Everyone who took one of these decisions (one query), by name."""
    rows = queryset.exclude(actor=None).order_by().values_list("actor_id", "actor_label").distinct()
    names: dict[int, str] = {}
    for pk, label in rows:
        names.setdefault(pk, label)
    return sorted(names.items(), key=lambda row: row[1].lower())


class DecisionLogAdmin(ReadOnlyAdmin):
    """One page: the decision log. No add, change, delete or history pages."""

    # --- who sees it --------------------------------------------------------------------------

    def has_module_permission(self, request):
        return False  # not in the app list: the index's desk links to it

    def has_view_permission(self, request, obj=None):
        user = request.user
        return bool(user.is_active and user.is_staff)

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        return [path("", self.admin_site.admin_view(self.log_view), name="{}_{}_changelist".format(*info))]

    # --- the page -----------------------------------------------------------------------------

    def log_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        user = request.user
        visible = decisions_visible_to(user)
        form = DecisionFilterForm(request.GET or None, moderators=moderator_choices(visible))
        if form.is_bound:
            form.is_valid()
        page = Paginator(form.filter(visible), PER_PAGE).get_page(request.GET.get("p"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Decision log",
            "subtitle": None,
            "opts": self.model._meta,
            "form": form,
            "page": page,
            "rows": self.rows(request, page.object_list),
            "query": self._query_without_page(request),
            "scope_note": self.scope_note(request),
        }
        return TemplateResponse(request, "admin/profiles/decision_log.html", context)

    def scope_note(self, request) -> str:
        user = request.user
        what = "every profile" if permissions.sees_every_institution(user) else "the profiles you work on"
        if sees_application_decisions(user):
            return f"Decisions on evidence and relationships of {what}, and on Leadership Alliance applications."
        return f"Decisions on evidence and relationships of {what}."

    @staticmethod
    def _query_without_page(request) -> str:
        query = request.GET.copy()
        query.pop("p", None)
        return query.urlencode()

    def rows(self, request, entries) -> list[dict]:
        """The page's rows, with each decided item's profile named (one query for the page)."""
        entries = list(entries)
        types = {ct.pk: key for key, ct in _content_types().items()}
        profile_ids = {entry.data.get("institution") for entry in entries if entry.data.get("institution")}
        profiles = Institution.objects.in_bulk([pk for pk in profile_ids if isinstance(pk, int)])
        may_open_applications = request.user.has_perm("membership.view_application")
        rows = []
        for entry in entries:
            kind = types.get(entry.content_type_id, "")
            model = KINDS.get(kind)
            profile = profiles.get(entry.data.get("institution"))
            url = ""
            if model is not None and entry.object_id and (kind != "application" or may_open_applications):
                opts = model._meta
                url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[entry.object_id])
            to = entry.data.get("to", "")
            rows.append({
                "entry": entry,
                "kind": KIND_LABELS.get(kind, "—"),
                "url": url,
                "profile": profile,
                # Every profile named here is one the staff member works on (the page's scope).
                "profile_url": reverse("admin:profiles_institution_change", args=[profile.pk]) if profile else "",
                "outcome": to,
                "outcome_label": OUTCOMES.get(to, to.capitalize() if to else "—"),
                "note": entry.data.get("note", ""),
            })
        return rows


admin.site.register(ReviewRecord, DecisionLogAdmin)
