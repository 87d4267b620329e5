"""Moderators' decisions on evidence and relationships, shared by the item pages (`reviewed.py`)
and the moderation queue (`queue.py`): the approve / reject / retract actions, their note page
(`membership.admin_actions.DecisionActionsMixin`), and the warnings it shows before anything is
decided. Every decision is taken by `profiles.review`, object by object, on the real item, so four
eyes, permissions and the row lock hold, and history, review records and the admin log record it.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.utils.text import Truncator

from audit.services import user_label
from membership.admin_actions import DecisionActionsMixin

from .. import review
from ..forms import ReviewDecisionForm
from ..models import ReviewState
from .scope import scope_of

REVIEW_MOVES = {
    "approve": review.approve,
    "reject": review.reject,
    "retract": review.retract,
}
#: The buttons a moderator sees on an item's page, by its state.
REVIEW_BUTTONS = {
    ReviewState.SUBMITTED: ("approve", "reject"),
    ReviewState.APPROVED: ("retract",),
}
PAST_TENSE = {"approve": "approved", "reject": "rejected", "retract": "retracted"}
INTRO = {
    "approve": "Approving shows each item to readers at its tier.",
    "reject": "Rejecting keeps each item from readers; the analyst may edit it and send it back to review.",
    "retract": "Retracting withdraws each item from readers; it stays on record.",
}


class ReviewDecisions(DecisionActionsMixin):
    """Approve / reject / retract for a `ModelAdmin` of evidence or relationships (or their queue).

    The admin provides `scoped(request, queryset)`: the staff member's items, rows joined for the
    note page. Decisions are taken on instances of the concrete model (never a queue proxy), so
    history, signals and review records see the model they know.
    """

    decision_form_class = ReviewDecisionForm
    decision_errors = (review.ReviewError, PermissionDenied)
    decision_columns = ("Item", "Profile", "Submitted by", "State")
    decision_empty_text = "None of the selected items is among those you may see."
    decision_page_class = "review-decision"

    @property
    def decided_opts(self):
        """The concrete model's options: what is decided, whichever admin lists it."""
        return self.model._meta.concrete_model._meta

    def has_moderate_permission(self, request):
        """`permissions=["moderate"]` on the actions; each item is checked again by `profiles.review`."""
        return scope_of(request).moderates_anything

    # --- actions: a note page, then object by object -----------------------------------------------

    @admin.action(description="Approve selected items…", permissions=["moderate"])
    def approve_selected(self, request, queryset):
        return self._review_action(request, queryset, "approve", "approve_selected")

    @admin.action(description="Reject selected items…", permissions=["moderate"])
    def reject_selected(self, request, queryset):
        return self._review_action(request, queryset, "reject", "reject_selected")

    @admin.action(description="Retract selected items…", permissions=["moderate"])
    def retract_selected(self, request, queryset):
        return self._review_action(request, queryset, "retract", "retract_selected")

    def _review_action(self, request, queryset, decision, action):
        """The chosen items, looked up in the staff member's whole scope, not just the list shown: an
        item decided by a colleague since the list was loaded is then reported as "already
        approved…" rather than silently dropped. Ids outside that scope are named and skipped."""
        manager = self.model._meta.concrete_model._default_manager
        if request.POST.get("select_across") != "1":
            selected = [pk for pk in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME) if pk.isdigit()]
            queryset = self.scoped(request, manager.filter(pk__in=selected))
            items = list(queryset.select_related("submitted_by", "reviewed_by").prefetch_related("authors"))
            missing = sorted(set(selected) - {str(item.pk) for item in items}, key=int)
            if missing and request.POST.get("confirm"):
                for pk in missing:
                    self.message_user(
                        request,
                        f"Item #{pk}: not found among the items you may see; nothing was changed.",
                        messages.ERROR,
                    )
        else:
            if queryset.model is not manager.model:  # a queue proxy: decide the real items
                queryset = self.scoped(request, manager.filter(pk__in=queryset.values("pk")))
            items = list(queryset.select_related("submitted_by", "reviewed_by").prefetch_related("authors"))
        return self.decision_page(request, items, decision, action=action)

    # --- the note page (membership.admin_actions) calls these --------------------------------------

    def decision_cells(self, obj):
        return [
            Truncator(str(obj)).chars(90),
            str(obj.reviewed_institution),
            user_label(obj.submitted_by) if obj.submitted_by_id else "—",
            obj.get_review_state_display(),
        ]

    def decision_warning(self, request, obj, decision) -> str:
        """Why this row will be refused, shown on the note page before anything is decided."""
        if not scope_of(request).can_moderate(obj.reviewed_institution):
            return "not a profile you moderate: will be left as is"
        if review.is_author(obj, request.user):
            return "you wrote or changed it: another moderator must decide it"
        allowed = REVIEW_BUTTONS.get(obj.review_state, ())
        if decision in REVIEW_MOVES and decision not in allowed:
            return f"already {obj.get_review_state_display().lower()}: will be left as is"
        return ""

    def decision_intro(self, decision, count) -> str:
        return (
            f"{INTRO.get(decision, '')} The note below is kept in each item's review record and "
            "e-mailed to the analyst who submitted it."
        ).strip()

    def decision_note_label(self, decision) -> str:
        return "Note (required)" if decision in ReviewDecisionForm.NOTE_REQUIRED else "Note (optional)"

    def decision_submit_label(self, decision, count) -> str:
        return f"{(decision or 'decide').capitalize()} {count} item{'' if count == 1 else 's'}"

    def decide_one(self, request, obj, decision, note):
        REVIEW_MOVES[decision](obj, actor=request.user, note=note)

    def decision_label(self, obj):
        return f"“{Truncator(str(obj)).chars(70)}” (#{obj.pk})"

    def decision_log_message(self, obj, decision, note):
        return f"{PAST_TENSE[decision].capitalize()} in review. {note}".strip()

    def decision_done_message(self, count, decision):
        opts = self.decided_opts
        noun = opts.verbose_name if count == 1 else opts.verbose_name_plural
        who = "its submitter is" if count == 1 else "their submitters are"
        return f"{count} {noun} {PAST_TENSE[decision]}; {who} e-mailed the decision."

    def decision_title(self, decision, count):
        """Named after the item decided, whichever admin (item pages or queue) lists it."""
        opts = self.decided_opts
        noun = opts.verbose_name if count == 1 else opts.verbose_name_plural
        return f"{(decision or 'review').capitalize()} {noun}"

    def after_single_decision(self, request, obj):
        opts = self.decided_opts
        return redirect(f"admin:{opts.app_label}_{opts.model_name}_change", obj.pk)
