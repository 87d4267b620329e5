"""The audit log in the admin: read-only, for superusers and lead analysts (`audit.view_auditentry`)."""

from django.contrib import admin
from django.contrib.contenttypes.models import ContentType

from .models import AuditEntry


class ReadOnlyAdmin(admin.ModelAdmin):
    """An admin that lists and shows rows but never adds, changes or deletes one, whatever the
    user's model permissions (the audit log, the moderation queues)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TargetTypeFilter(admin.SimpleListFilter):
    title = "object type"
    parameter_name = "content_type"

    def lookups(self, request, model_admin):
        used = AuditEntry.objects.exclude(content_type=None).values_list("content_type", flat=True).distinct()
        return [(ct.pk, ct.name) for ct in ContentType.objects.filter(pk__in=used).order_by("model")]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(content_type_id=self.value())
        return queryset


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_label", "action", "target_type", "target_label", "summary"]
    list_filter = ["action", TargetTypeFilter, ("actor", admin.RelatedOnlyFieldListFilter), "created_at"]
    search_fields = ["summary", "target_label", "actor_label", "object_id"]
    date_hierarchy = "created_at"
    list_select_related = ["content_type"]
    list_per_page = 100
    show_full_result_count = False
    fields = ["created_at", "actor", "actor_label", "action", "content_type", "object_id", "target_label", "summary",
              "data"]
    readonly_fields = fields

    @admin.display(description="object type", ordering="content_type__model")
    def target_type(self, obj):
        return obj.content_type.name if obj.content_type_id else "—"

    def get_actions(self, request):
        return {}
