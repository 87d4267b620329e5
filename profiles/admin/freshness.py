"""The re-verification queue: published profiles nobody has confirmed within `BTW_REVERIFY_DAYS`,
the longest unconfirmed first (`Institution.objects.due_for_reverification`).

Its own admin on a proxy model (`ReverificationQueueItem`), a list only: each row opens the real
profile's page, and "Confirm…" its confirmation page (`InstitutionAdmin.confirm_sections_view`).
Scoped like the profile list for those who confirm: analysts see the profiles assigned to them,
lead analysts and superusers every profile; moderators, who never confirm, do not see it.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import path, reverse
from django.utils.html import format_html

from audit.admin import ReadOnlyAdmin
from audit.services import user_label

from .. import permissions
from ..models import ReverificationQueueItem
from .queue import QueueChangeList, time_ago
from .scope import scope_of


@admin.register(ReverificationQueueItem)
class ReverificationQueueAdmin(ReadOnlyAdmin):
    """A list: no add, change, delete or history pages of its own."""

    list_display = ("name", "type", "published_at", "verified", "verified_by", "confirm")
    # The order is the model's: never verified first, then the oldest confirmation (REVERIFICATION_ORDER).
    list_display_links = ("name",)
    list_select_related = ("last_verified_by",)
    search_fields = ["name", "slug"]
    list_filter = ()
    list_per_page = 50
    show_full_result_count = False
    actions = None

    # --- who sees it ----------------------------------------------------------------------------

    def _confirms_profiles(self, request) -> bool:
        """Analysts (who may add profiles) and whoever changes some profile; moderators as such do not."""
        user = request.user
        return user.has_perm("profiles.add_institution") or scope_of(request).edits_anything

    def has_module_permission(self, request):
        return self._confirms_profiles(request)

    def has_view_permission(self, request, obj=None):
        return self._confirms_profiles(request)

    # --- what it lists ----------------------------------------------------------------------------

    def get_queryset(self, request):
        due = ReverificationQueueItem.objects.due_for_reverification()
        return permissions.editable_institutions(request.user, due).select_related(*self.list_select_related)

    def get_changelist(self, request, **kwargs):
        return QueueChangeList

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [path("", self.admin_site.admin_view(self.changelist_view), name="{}_{}_changelist".format(*info))]

    def changelist_view(self, request, extra_context=None):
        context = {"title": "Profiles due for re-verification", "subtitle": None, **(extra_context or {})}
        return super().changelist_view(request, context)

    # --- columns ----------------------------------------------------------------------------------

    @admin.display(description="last verified", ordering="last_verified_at")
    def verified(self, obj):
        if obj.last_verified_at is None:
            return "never"
        return time_ago(obj.last_verified_at)

    @admin.display(description="verified by")
    def verified_by(self, obj):
        return user_label(obj.last_verified_by) if obj.last_verified_by else "—"

    @admin.display(description="confirm")
    def confirm(self, obj):
        url = reverse("admin:profiles_institution_confirm_sections", args=[obj.pk])
        return format_html('<a href="{}?from=queue">Confirm sections still hold…</a>', url)
