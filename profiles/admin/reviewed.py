"""Evidence and relationships on their own pages: saved through the review workflow, with the
moderator's buttons (Approve / Reject… / Retract…), the review record, the authors since the last
approval (four eyes) and a word-level diff against the approved version.

New and edited items enter review as "submitted" (`services.save_reviewed_item`); review fields
are read-only everywhere. Moderators decide from the moderation queue (`queue.py`), from these
changelists' actions, or with the buttons on an item's page (`<id>/review/`); see `decisions.py`.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join

from audit.services import user_label

from .. import review, services
from ..forms import RelationshipForm, add_review_help
from ..models import EvidenceItem, EvidenceQueueItem, Relationship, RelationshipQueueItem, ReviewRecord, ReviewState
from ..review_changes import changes_since_approval
from .base import cite_as
from .children import ProfileChildAdmin
from .decisions import REVIEW_BUTTONS, REVIEW_MOVES, ReviewDecisions
from .editor import EditorEndpoints
from .scope import scope_of
from .sources import SourceCaptureDisplay


class ReviewedChildAdmin(ReviewDecisions, ProfileChildAdmin):
    """Evidence and relationships: review fields are read-only; saves go through the review workflow."""

    readonly_fields = [
        "review_state", "submitted_by", "reviewed_by", "reviewed_at", "review_note", "review_records",
        "review_authors", "review_changes",
    ]
    change_form_template = "admin/profiles/reviewed_change_form.html"
    #: The proxy whose admin is this model's moderation queue (`queue.py`).
    queue_model: type
    actions = ["approve_selected", "reject_selected", "retract_selected"]

    def save_model(self, request, obj, form, change):
        obj._history_user = request.user
        services.save_reviewed_item(item=obj, user=request.user)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        add_review_help(form.base_fields, self.model)
        return form

    def get_readonly_fields(self, request, obj=None):
        """An item stays with its profile: moving it means a new item (`profiles.review`)."""
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.pk is not None:
            fields.append(self.model.review_owner_field)
        return fields

    def has_delete_permission(self, request, obj=None):
        """Approved and retracted items stay on record (a moderator retracts); bulk deletes obey this too."""
        if obj is not None and obj.review_state in (ReviewState.APPROVED, ReviewState.RETRACTED):
            return False
        return super().has_delete_permission(request, obj)

    def has_view_permission(self, request, obj=None):
        """Per-profile moderators (guardian only, no model permission) still read what they decide."""
        if super().has_view_permission(request, obj):
            return True
        scope = scope_of(request)
        if not scope.moderates_anything:
            return False
        return obj is None or scope.can_moderate(self.parent(obj))

    def has_module_permission(self, request):
        """Per-profile moderators find evidence and relationships on the admin index too."""
        return super().has_module_permission(request) or scope_of(request).moderates_anything

    def changelist_view(self, request, extra_context=None):
        # A forged POST of a moderation action by someone who moderates nothing: say so plainly
        # (Django alone would answer "No action selected", which explains nothing).
        if (
            request.method == "POST"
            and request.POST.get("action") in self.actions
            and not scope_of(request).moderates_anything
        ):
            self.message_user(
                request,
                "Only moderators approve, reject or retract evidence and relationships; nothing was changed.",
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())
        return super().changelist_view(request, extra_context)

    # --- one item: the change form's buttons -------------------------------------------------------

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        return [
            path("queue/", self.admin_site.admin_view(self.queue_redirect), name="{}_{}_queue".format(*info)),
            path(
                "<path:object_id>/review/",
                self.admin_site.admin_view(self.review_view),
                name="{}_{}_review".format(*info),
            ),
            *super().get_urls(),
        ]

    def queue_redirect(self, request):
        """The moderation queue's old address (`queue/`, still linked from elsewhere): on to the
        queue's own admin (`queue.py`), which decides who may see it."""
        opts = self.queue_model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist", current_app=self.admin_site.name)
        query = request.META.get("QUERY_STRING", "")
        return HttpResponseRedirect(f"{url}?{query}" if query else url)

    def review_view(self, request, object_id):
        """Approve (one click), or reject / retract after a note, one item from its own page."""
        obj = self.get_object(request, unquote(object_id))  # out of scope: 403 (OutOfScopeIs403)
        if obj is None:
            raise Http404
        decision = request.POST.get("decision") or request.GET.get("decision")
        if decision not in REVIEW_MOVES:
            self.message_user(request, "Choose approve, reject or retract.", messages.ERROR)
            return self.after_single_decision(request, obj)
        if not scope_of(request).can_moderate(self.parent(obj)):
            raise PermissionDenied("Only moderators of this profile decide its evidence and relationships.")
        return self.decision_page(request, [obj], decision, single=obj)

    def review_buttons(self, request, obj):
        """What the moderator may do from this page: button names, or why there are none."""
        scope = scope_of(request)
        if obj is None or not scope.moderates_anything or not scope.can_moderate(self.parent(obj)):
            return None
        if review.is_author(obj, request.user):
            return {"own": True, "buttons": ()}
        return {"own": False, "buttons": REVIEW_BUTTONS.get(obj.review_state, ())}

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        opts = self.model._meta
        extra_context = {
            **(extra_context or {}),
            "review": self.review_buttons(request, obj),
            "review_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_review", args=[obj.pk]) if obj else "",
        }
        return super().change_view(request, object_id, form_url, extra_context)

    # --- what the moderator reads on the item's page -----------------------------------------------

    @admin.display(description="review record")
    def review_records(self, obj):
        """Every transition of this item (append-only): who, when, from what, to what, and why."""
        if obj is None or obj.pk is None:
            return "—"
        records = ReviewRecord.objects.for_item(obj)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{} → {}</td><td>{}</td></tr>",
            (
                (
                    formats.date_format(timezone.localtime(r.created_at), "j M Y, H:i"),
                    user_label(r.actor) if r.actor else "—",
                    r.get_from_state_display() or "new",
                    r.get_to_state_display(),
                    r.note or "",
                )
                for r in records
            ),
        )
        if not rows:
            return "No review decisions yet."
        return format_html(
            '<table class="review-records"><thead><tr><th scope="col">When</th><th scope="col">Who</th>'
            '<th scope="col">Move</th><th scope="col">Note</th></tr></thead><tbody>{}</tbody></table>',
            rows,
        )

    @admin.display(description="authors since the last approval")
    def review_authors(self, obj):
        """Four eyes: none of these people may approve the item (one query)."""
        if obj is None or obj.pk is None:
            return "—"
        people = {user.pk: user for user in obj.authors.all()}
        if obj.submitted_by_id is not None and obj.submitted_by is not None:
            people.setdefault(obj.submitted_by_id, obj.submitted_by)
        names = sorted(user_label(user) for user in people.values())
        return ", ".join(names) if names else "—"

    @admin.display(description="changes since the last approval")
    def review_changes(self, obj):
        """A word-level diff of every reviewed field that differs from the approved version."""
        if obj is None or obj.pk is None:
            return "—"
        changes = changes_since_approval(obj)
        if changes is None:
            return "Never approved: every field is new to review."
        if not changes:
            return "No reviewed field differs from the approved version."
        tags = {"same": "{}", "removed": "<del>{}</del>", "added": "<ins>{}</ins>"}

        def diff(change):
            return format_html_join(" ", "{}", ((format_html(tags[op], text),) for op, text in change.segments))

        rows = format_html_join(
            "", "<tr><th scope=\"row\">{}</th><td>{}</td></tr>", ((c.label, diff(c)) for c in changes)
        )
        return format_html(
            '<table class="review-changes"><thead><tr><th scope="col">Field</th>'
            '<th scope="col">Approved → now</th></tr></thead><tbody>{}</tbody></table>',
            rows,
        )


@admin.register(EvidenceItem)
class EvidenceItemAdmin(SourceCaptureDisplay, EditorEndpoints, ReviewedChildAdmin):
    queue_model = EvidenceQueueItem
    list_display = [
        "title", "institution", "publisher", "kind", "source_date", "required_tier", "review_state", "submitted_by",
        "updated_at",
    ]
    list_filter = ["review_state", "source_state", "kind", "required_tier", "source_date"]
    search_fields = ["title", "publisher", "claim", "url", "institution__name"]
    autocomplete_fields = ["institution"]
    list_select_related = ["institution", "required_tier", "submitted_by"]
    readonly_fields = [*ReviewedChildAdmin.readonly_fields, "cite_as", "source_watch", "source_capture"]
    fieldsets = [
        (None, {"fields": ["institution", ("url", "kind"), ("publisher", "title"), ("source_date", "retrieved_at"),
                           "claim", "quote", "archive_url", "required_tier"]}),
        ("Review", {"fields": [("review_state", "submitted_by"), ("reviewed_by", "reviewed_at"), "review_note",
                               "review_authors", "review_changes", "review_records", "cite_as"]}),
        ("Source", {"fields": ["source_watch", "source_capture"]}),
    ]

    @admin.display(description="cite as")
    def cite_as(self, obj):
        return cite_as(obj)


@admin.register(Relationship)
class RelationshipAdmin(ReviewedChildAdmin):
    parent_field = "source"
    queue_model = RelationshipQueueItem
    form = RelationshipForm
    list_display = ["source", "kind", "target", "since", "review_state", "submitted_by", "updated_at"]
    list_filter = ["review_state", "kind"]
    search_fields = ["source__name", "target__name", "description"]
    autocomplete_fields = ["source", "target", "evidence"]
    list_select_related = ["source", "target", "submitted_by"]
    fieldsets = [
        (None, {"fields": ["source", "kind", "target", "since", "description", "evidence"]}),
        ("Review", {"fields": [("review_state", "submitted_by"), ("reviewed_by", "reviewed_at"), "review_note",
                               "review_authors", "review_changes", "review_records"]}),
    ]

    def scoped(self, request, qs):
        return super().scoped(request, qs).select_related("target")
