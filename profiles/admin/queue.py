"""The moderation queue: submitted items a moderator may decide, oldest submission first.

Its own admin on proxy models (`EvidenceQueueItem`, `RelationshipQueueItem`) rather than a mode of
the evidence and relationship changelists: its rows are `review.review_queue(user, model)`, it has
its own columns, no filters, and only the approve / reject actions (a rejection asks for a note).
Each row links to the real item's page; each decision goes through `profiles.review`, object by
object, on the real item (`decisions.py`). Who sees it: global and per-profile moderators and
superusers (`permissions.moderates_anything`), decided here rather than by the proxies' own
model permissions, which no group holds. The admin index links to it with pending counts
(`profiles.templatetags.moderation`). The old addresses `<model>/queue/` redirect here (`reviewed.py`).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import ChangeList
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.timesince import timesince

from audit.admin import ReadOnlyAdmin
from audit.services import user_label

from .. import review
from ..models import EvidenceQueueItem, RelationshipQueueItem
from .decisions import ReviewDecisions
from .scope import scope_of


def time_ago(moment):
    """A queue's age column: "3 days ago", the exact time on hover and for machines (every queue's)."""
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        moment.isoformat(),
        formats.date_format(timezone.localtime(moment), "j M Y, H:i"),
        f"{timesince(moment, depth=1)} ago",
    )


class QueueChangeList(ChangeList):
    """A queue row opens the real item's page (with its review buttons), not a page of the proxy."""

    def url_for_result(self, result):
        opts = self.model._meta.concrete_model._meta
        return reverse(
            f"admin:{opts.app_label}_{opts.model_name}_change",
            args=(quote(result.pk),),
            current_app=self.model_admin.admin_site.name,
        )


class ModerationQueueAdmin(ReviewDecisions, ReadOnlyAdmin):
    """A list and its two actions: no add, change, delete or history pages of its own."""

    change_list_template = "admin/profiles/review_queue.html"
    actions = ["approve_selected", "reject_selected"]
    list_filter = ()
    ordering = ("submitted_at", "pk")
    list_per_page = 50
    show_full_result_count = False

    # --- who sees it ----------------------------------------------------------------------------

    def has_module_permission(self, request):
        return scope_of(request).moderates_anything

    def has_view_permission(self, request, obj=None):
        return scope_of(request).moderates_anything

    # --- what it lists ----------------------------------------------------------------------------

    def get_queryset(self, request):
        return review.review_queue(request.user, self.model).select_related(*self.list_select_related)

    def scoped(self, request, qs):
        """Items of the staff member's profiles (what an action looks its chosen ids up in)."""
        return scope_of(request).children(qs.select_related(*self.list_select_related), self.model.review_owner_field)

    def get_changelist(self, request, **kwargs):
        return QueueChangeList

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        return [path("", self.admin_site.admin_view(self.changelist_view), name="{}_{}_changelist".format(*info))]

    def changelist_view(self, request, extra_context=None):
        opts = self.decided_opts
        context = {
            "title": f"Moderation queue: {opts.verbose_name_plural}",
            "subtitle": None,
            "all_items_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)

    # --- columns shared by both queues ----------------------------------------------------------

    @admin.display(description="submitted", ordering="submitted_at")
    def queue_age(self, obj):
        return time_ago(obj.submitted_at)

    @admin.display(description="submitted by", ordering="submitted_by__username")
    def queue_submitter(self, obj):
        return user_label(obj.submitted_by) if obj.submitted_by else "—"


@admin.register(EvidenceQueueItem)
class EvidenceQueueAdmin(ModerationQueueAdmin):
    list_display = ("queue_claim", "queue_source", "institution", "required_tier", "queue_submitter", "queue_age")
    list_display_links = ("queue_claim",)
    list_select_related = ("institution", "required_tier", "submitted_by")
    search_fields = ["title", "publisher", "claim", "url", "institution__name"]

    @admin.display(description="claim")
    def queue_claim(self, obj):
        return Truncator(obj.claim).chars(120)

    @admin.display(description="source", ordering="publisher")
    def queue_source(self, obj):
        return format_html(
            '{} — <a href="{}" target="_blank" rel="noopener noreferrer">{}</a>',
            obj.publisher, obj.url, Truncator(obj.title).chars(80),
        )


@admin.register(RelationshipQueueItem)
class RelationshipQueueAdmin(ModerationQueueAdmin):
    list_display = ("queue_relationship", "queue_description", "queue_evidence", "queue_submitter", "queue_age")
    list_display_links = ("queue_relationship",)
    list_select_related = ("source", "target", "evidence", "submitted_by")
    search_fields = ["source__name", "target__name", "description"]

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

