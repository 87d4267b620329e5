"""Outgoing mail in the admin, for superusers: what was sent, what waits, what failed or is stuck.

Read-only: a message is queued only by the act that causes it and sent by `send_queued_mail`
(outbox.services). A failed or stuck row is where an operator looks after an SMTP outage; once the
server is mended, "Send the failed messages again" gives them a new round of attempts at once.
"""

from django.contrib import admin, messages

from . import services
from .models import OutgoingMail


@admin.register(OutgoingMail)
class OutgoingMailAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "subject", "state", "attempts", "next_attempt_at", "sent_at"]
    list_filter = ["state", "kind", "created_at"]
    search_fields = ["subject", "kind", "last_error"]
    date_hierarchy = "created_at"
    list_per_page = 100
    show_full_result_count = False
    readonly_fields = [f.name for f in OutgoingMail._meta.fields]
    actions = ["retry_failed"]

    @admin.action(description="Send the failed messages again", permissions=["retry"])
    def retry_failed(self, request, queryset):
        report = services.retry_failed(list(queryset.values_list("pk", flat=True)))
        tried = report.sent + report.retrying + report.failed
        if not tried:
            self.message_user(request, "None of the chosen messages had failed: nothing was sent.", messages.WARNING)
            return
        self.message_user(
            request,
            f"{report.sent} of {tried} sent; {report.retrying} will be tried again later, {report.failed} failed.",
            messages.SUCCESS if report.sent == tried else messages.WARNING,
        )

    def has_retry_permission(self, request):
        return self.has_module_permission(request)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
