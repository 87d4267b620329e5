"""Sources to re-verify: approved evidence whose source changed, moved or went since it was verified.

Its own admin on a proxy (`SourceAlertItem`), like the moderation queue: a list filtered by what
happened (changed / gone / moved) and whether someone has looked, each row opening a comparison page
— the verified text against the latest, word by word (`profiles.sources.alerts.word_diff`) — with two
ways out: "the source still supports the claim" (`state.accept_current`: the latest fetch becomes the
verified one, the label goes) and "the label stands" (`state.acknowledge`: a gone source whose archived
copy still holds; it leaves the list). Retracting or correcting the item is done on its own page,
through the review workflow. Who sees it: moderators, for the profiles they moderate.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import quote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.text import Truncator

from audit.admin import ReadOnlyAdmin

from ..models import EvidenceItem, SourceAlertItem, SourceState
from ..sources import alerts, state
from .queue import QueueChangeList, time_ago
from .scope import scope_of


class AlertChangeList(QueueChangeList):
    """A row opens the comparison page."""

    def url_for_result(self, result):
        return reverse("admin:profiles_sourcealertitem_compare", args=(quote(result.pk),),
                       current_app=self.model_admin.admin_site.name)


class WhatHappenedFilter(admin.SimpleListFilter):
    title = "what happened"
    parameter_name = "source_state"

    def lookups(self, request, model_admin):
        return [(value, SourceState(value).label) for value in SourceAlertItem.ALERT_STATES]

    def queryset(self, request, queryset):
        if self.value() in SourceAlertItem.ALERT_STATES:
            return queryset.filter(source_state=self.value())
        return queryset


class LookedAtFilter(admin.SimpleListFilter):
    title = "looked at"
    parameter_name = "looked_at"

    def lookups(self, request, model_admin):
        return [("yes", "Already looked at (label stands)"), ("any", "Both")]

    def choices(self, changelist):
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Not yet",
        }
        for value, label in self.lookup_choices:
            yield {
                "selected": self.value() == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(tracking__acknowledged_at__isnull=False)
        if self.value() == "any":
            return queryset
        return queryset.filter(tracking__acknowledged_at__isnull=True)


@admin.register(SourceAlertItem)
class SourceAlertAdmin(ReadOnlyAdmin):
    list_display = ("alert_source", "institution", "alert_state", "alert_since", "alert_verified")
    list_display_links = ("alert_source",)
    list_select_related = ("institution", "tracking")
    list_filter = (WhatHappenedFilter, LookedAtFilter)
    search_fields = ["title", "publisher", "url", "institution__name"]
    list_per_page = 50
    show_full_result_count = False
    actions = ["acknowledge_selected"]

    # --- who sees it ----------------------------------------------------------------------------

    def has_module_permission(self, request):
        return scope_of(request).moderates_anything

    def has_view_permission(self, request, obj=None):
        return scope_of(request).moderates_anything

    def has_moderate_permission(self, request):
        return scope_of(request).moderates_anything

    # --- what it lists ----------------------------------------------------------------------------

    def get_queryset(self, request):
        rows = alerts.for_moderator(request.user, include_acknowledged=True)
        return rows.select_related(*self.list_select_related)

    def get_changelist(self, request, **kwargs):
        return AlertChangeList

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path("", view(self.changelist_view), name="{}_{}_changelist".format(*info)),
            path("<path:object_id>/compare/", view(self.compare_view), name="{}_{}_compare".format(*info)),
        ]

    def changelist_view(self, request, extra_context=None):
        context = {"title": "Sources to re-verify", "subtitle": None, **(extra_context or {})}
        return super().changelist_view(request, context)

    # --- columns ----------------------------------------------------------------------------------

    @admin.display(description="source", ordering="publisher")
    def alert_source(self, obj):
        return f"{obj.publisher}: {Truncator(obj.title).chars(90)}"

    @admin.display(description="what happened", ordering="source_state")
    def alert_state(self, obj):
        return obj.get_source_state_display()

    @admin.display(description="since", ordering="source_state_at")
    def alert_since(self, obj):
        if obj.source_state_at is None:
            return "—"
        return time_ago(obj.source_state_at)

    @admin.display(description="verified")
    def alert_verified(self, obj):
        if obj.source_verified_at is None:
            return "never"
        return formats.date_format(timezone.localtime(obj.source_verified_at), "j M Y")

    # --- the comparison page and its two decisions ------------------------------------------------

    def _alert(self, request, object_id) -> EvidenceItem:
        if not self.has_view_permission(request):
            raise PermissionDenied
        item = self.get_queryset(request).filter(pk=object_id).first() if str(object_id).isdigit() else None
        if item is None:
            if str(object_id).isdigit() and EvidenceItem.objects.filter(pk=object_id).exists():
                item = EvidenceItem.objects.select_related("institution").get(pk=object_id)
                if not scope_of(request).can_moderate(item.institution):
                    raise PermissionDenied("This source belongs to a profile you do not moderate.")
                return item  # no longer an alert: the page says so
            raise Http404("No such source.")
        return item

    def compare_view(self, request, object_id):
        item = self._alert(request, object_id)
        if request.method == "POST":
            return self._decide(request, item)
        found = alerts.comparison(item)
        before = found.baseline.text if found.baseline else ""
        after = found.latest.text if found.latest else ""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Compare the source: {Truncator(item.title).chars(80)}",
            "subtitle": None,
            "item": item,
            "found": found,
            "is_alert": item.review_state == EvidenceItem.Review.APPROVED
            and item.source_state in SourceAlertItem.ALERT_STATES,
            "can_accept": item.source_state in (SourceState.CHANGED, SourceState.MOVED) and found.latest is not None,
            "runs": alerts.word_diff(before, after) if before and after else [],
            "diff_words": alerts.DIFF_WORDS,
            "item_url": reverse("admin:profiles_evidenceitem_change", args=[item.pk]),
            "list_url": reverse("admin:profiles_sourcealertitem_changelist"),
        }
        return TemplateResponse(request, "admin/profiles/source_compare.html", context)

    def _decide(self, request, item):
        decision = request.POST.get("decision")
        if decision == "accept":
            accepted = state.accept_current(item, by=request.user)
            if accepted is None:
                self.message_user(
                    request, "Nothing to accept: the source is not changed or moved now.", messages.WARNING
                )
            else:
                self.message_user(request, f"“{item}” is verified again as it now reads.", messages.SUCCESS)
        elif decision == "acknowledge":
            if state.acknowledge(item, by=request.user):
                self.message_user(request, f"“{item}”: the label stands; it leaves the list.", messages.SUCCESS)
            else:
                self.message_user(request, "Someone had already looked at this alert.", messages.INFO)
        else:
            self.message_user(request, "Choose what to do with the source.", messages.ERROR)
            return redirect(reverse("admin:profiles_sourcealertitem_compare", args=[item.pk]))
        return redirect(reverse("admin:profiles_sourcealertitem_changelist"))

    @admin.action(description="The label stands: I have looked at the selected sources", permissions=["moderate"])
    def acknowledge_selected(self, request, queryset):
        done = sum(state.acknowledge(item, by=request.user) for item in queryset)
        self.message_user(request, f"{done} source alert(s) marked as looked at.", messages.SUCCESS)
