"""Outgoing mail in the admin, for superusers: what was sent, what waits, what failed or is stuck.

Read-only: a message is queued only by the act that causes it and sent only by `send_queued_mail`
(outbox.services). A failed or stuck row is where an operator looks after an SMTP outage.
"""

from django.contrib import admin

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
