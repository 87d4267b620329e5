"""Admin for tiers, memberships and the Leadership Alliance review queue.

Decisions go through `membership.services`, object by object, so the four-eyes rule, the
permission check, the e-mail and the admin history hold for every change.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Count, DateTimeField, F, IntegerField, Q, Value, When
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html_join

from . import services, tokens
from .admin_actions import DecisionActionsMixin
from .forms import DecisionForm
from .models import ApiToken, Application, Membership, Tier


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    """Tiers are data seeded by migration: their level and rules are fixed, their wording editable."""

    list_display = ("name", "level", "self_service", "active_members")
    search_fields = ("name", "slug")
    ordering = ("level",)
    fields = ("name", "slug", "level", "self_service", "description", "unlocks")
    readonly_fields = ("slug", "level", "self_service")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            _active_members=Count("memberships", filter=Q(memberships__status=Membership.Status.ACTIVE))
        )

    @admin.display(description="active members", ordering="_active_members")
    def active_members(self, obj):
        return obj._active_members

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Memberships are granted by e-mail verification or by approving an application; here they end."""

    list_display = ("user_email", "tier", "status", "started_at", "ends_at", "reviewed_by")
    list_filter = ("tier", "status")
    search_fields = ("user__email", "user__username")
    list_select_related = ("user", "tier", "reviewed_by")
    ordering = ("-created_at",)
    fields = (
        "user", "user_email", "tier", "status", "started_at", "ends_at", "reviewed_by", "created_at", "updated_at",
    )
    readonly_fields = fields
    actions = ["lapse_selected", "revoke_selected"]
    view_on_site = False

    @admin.display(description="e-mail", ordering="user__email")
    def user_email(self, obj):
        return obj.user.email

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _end(self, request, queryset, service, verb):
        done = 0
        for membership in queryset.select_related("user", "tier"):
            try:
                service(membership=membership, by=request.user)
            except services.MembershipError as error:
                self.message_user(request, str(error), messages.ERROR)
                continue
            self.log_change(request, membership, f"Membership {verb}.")
            done += 1
        if done:
            self.message_user(request, f"{done} membership(s) {verb}; their content is locked from now on.")

    @admin.action(description="Lapse selected memberships", permissions=["change"])
    def lapse_selected(self, request, queryset):
        self._end(request, queryset, services.lapse_membership, "lapsed")

    @admin.action(description="Revoke selected memberships", permissions=["change"])
    def revoke_selected(self, request, queryset):
        self._end(request, queryset, services.revoke_membership, "revoked")


@admin.register(Application)
class ApplicationAdmin(DecisionActionsMixin, admin.ModelAdmin):
    """The Leadership Alliance review queue: pending applications first, oldest first."""

    list_display = ("organisation", "applicant_email", "role", "state", "created_at", "reviewer", "reviewed_at")
    list_filter = ("state", "tier")
    search_fields = ("organisation", "role", "user__email")
    list_select_related = ("user", "tier", "reviewer")
    fields = (
        "applicant_email", "applicant_verified", "applicant_joined", "applicant_memberships",
        "tier", "organisation", "role", "qualification_statement", "consent", "created_at",
        "state", "reviewer", "reviewed_at", "review_note",
    )
    readonly_fields = fields
    actions = ["approve_selected", "reject_selected"]
    view_on_site = False
    decision_form_class = DecisionForm
    decision_errors = (services.MembershipError,)
    decision_columns = ("Organisation", "Applicant", "Role", "Submitted", "State")
    decision_empty_text = "None of the selected applications is among those you may see."
    decision_page_class = "application-decision"
    change_form_template = "membership/admin/application_change_form.html"

    # --- the queue ---------------------------------------------------------------------------

    def get_queryset(self, request):
        # Not super(): it orders by get_ordering() before these annotations exist.
        pending = Q(state=Application.State.PENDING)
        return (
            self.model._default_manager.get_queryset()
            .annotate(
                _pending_first=Case(When(pending, then=Value(0)), default=Value(1), output_field=IntegerField()),
                _decided_at=Case(When(pending, then=None), default=F("reviewed_at"), output_field=DateTimeField()),
            )
            .order_by(*self.get_ordering(request))
        )

    def get_ordering(self, request):
        return ["_pending_first", "-_decided_at", "created_at"]

    @admin.display(description="applicant", ordering="user__email")
    def applicant_email(self, obj):
        return obj.user.email

    @admin.display(description="e-mail verified", boolean=True)
    def applicant_verified(self, obj):
        return services.has_verified_email(obj.user)

    @admin.display(description="signed up")
    def applicant_joined(self, obj):
        return date_format(timezone.localtime(obj.user.date_joined), "DATETIME_FORMAT")

    @admin.display(description="memberships")
    def applicant_memberships(self, obj):
        rows = Membership.objects.filter(user=obj.user).select_related("tier")
        return format_html_join(", ", "{} ({})", ((m.tier.name, m.get_status_display()) for m in rows)) or "—"

    # --- permissions -------------------------------------------------------------------------

    def has_review_permission(self, request):
        return request.user.has_perm(services.REVIEW_PERMISSION)

    def has_add_permission(self, request):
        return False  # readers apply at /membership/apply/

    def has_change_permission(self, request, obj=None):
        return False  # read-only record; decisions are actions

    def has_delete_permission(self, request, obj=None):
        return False  # applications are the record of who was let in, and by whom

    # --- decisions ---------------------------------------------------------------------------

    @admin.action(description="Approve selected applications…", permissions=["review"])
    def approve_selected(self, request, queryset):
        return self._decision_page(request, queryset, "approve", action="approve_selected")

    @admin.action(description="Reject selected applications…", permissions=["review"])
    def reject_selected(self, request, queryset):
        return self._decision_page(request, queryset, "reject", action="reject_selected")

    def _decision_page(self, request, queryset, decision, *, action=None, single=None):
        return self.decision_page(
            request, queryset.select_related("user", "tier"), decision, action=action, single=single
        )

    # The shared note page and loop (membership.admin_actions) call these:

    def decision_cells(self, obj):
        return [
            obj.organisation,
            obj.user.email,
            obj.role,
            date_format(timezone.localtime(obj.created_at), "j M Y"),
            obj.get_state_display(),
        ]

    def decision_warning(self, request, obj, decision):
        """Why this application will be left as is; `services` refuses the same cases when deciding."""
        if obj.state != Application.State.PENDING:
            return "already decided, will be left as is"
        if obj.user_id == request.user.pk:
            return "your own: another moderator must decide it"  # four eyes
        return ""

    def decision_intro(self, decision, count):
        what = {
            "approve": "Approving makes each applicant an active Leadership Alliance member at once.",
            "reject": "Rejecting closes each application; the applicant may apply again later.",
        }.get(decision, "Approve this application, or reject it with a reason.")
        whom = "the applicant" if count == 1 else "each applicant"
        return f"{what} The note below is e-mailed to {whom}."

    def decision_note_label(self, decision):
        return "Note to the applicant (required)" if decision == "reject" else "Note to the applicant"

    def decision_submit_label(self, decision, count):
        verb = "Approve" if decision == "approve" else "Reject"
        return f"{verb} {count} application{'' if count == 1 else 's'}"

    def decide_one(self, request, obj, decision, note):
        service = services.approve_application if decision == "approve" else services.reject_application
        service(application=obj, reviewer=request.user, note=note)

    def decision_label(self, obj):
        return obj.organisation

    def decision_log_message(self, obj, decision, note):
        return f"Application {obj.get_state_display().lower()}. {note}"

    def decision_done_message(self, count, decision):
        verb = "approved" if decision == "approve" else "rejected"
        return f"{count} application(s) {verb}; the applicants have been e-mailed."

    def after_single_decision(self, request, obj):
        return redirect("admin:membership_application_changelist")

    def get_urls(self):
        return [
            path(
                "<path:object_id>/decide/",
                self.admin_site.admin_view(self.decide_view),
                name="membership_application_decide",
            ),
            *super().get_urls(),
        ]

    def decide_view(self, request, object_id):
        """Approve or reject one application from its own page (`?decision=approve|reject` presets it)."""
        if not self.has_review_permission(request):
            raise PermissionDenied
        application = get_object_or_404(self.get_queryset(request), pk=object_id)
        queryset = self.get_queryset(request).filter(pk=application.pk)
        # Without a preset decision the page offers both buttons, and its title and intro stay neutral.
        decision = request.GET.get("decision")
        decision = decision if decision in dict(self.decision_choices) else None
        return self._decision_page(request, queryset, decision, single=application)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        application = self.get_object(request, object_id)
        if application is not None and application.state == Application.State.PENDING and (
            self.has_review_permission(request)
        ):
            extra_context["decide_url"] = reverse("admin:membership_application_decide", args=[application.pk])
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Readers' API tokens, for superusers only: who holds which, used when, and a revoke action.

    The digest is never shown (it is the lookup key of a credential) and tokens are neither made nor
    changed here: a token's text exists only in its owner's response when they made it.
    """

    list_display = ("name", "owner_email", "display_prefix", "created_at", "last_used_at", "expires_at", "state")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("name", "prefix", "owner__email")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    fields = ("owner", "name", "display_prefix", "created_at", "last_used_at", "expires_at", "revoked_at")
    readonly_fields = fields
    actions = ["revoke_selected"]
    view_on_site = False

    @admin.display(description="owner", ordering="owner__email")
    def owner_email(self, obj):
        return obj.owner.email

    @admin.display(description="token starts")
    def display_prefix(self, obj):
        return obj.display_prefix

    @admin.display(description="state")
    def state(self, obj):
        if obj.is_revoked():
            return "revoked"
        return "expired" if obj.is_expired() else "live"

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser

    def has_revoke_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the row stays as the record of who held access

    @admin.action(description="Revoke selected API tokens", permissions=["revoke"])
    def revoke_selected(self, request, queryset):
        done = 0
        for token in queryset.select_related("owner"):
            if tokens.revoke_token(token=token, by=request.user):
                self.log_change(request, token, "API token revoked.")
                done += 1
        self.message_user(request, f"{done} token(s) revoked; they open nothing from now on.")
