"""The review workflow shared by evidence items and relationships.

submitted → approved | rejected; approved → retracted; rejected → submitted (after an edit).
Every transition goes through `transition()`, which locks the row, checks the rules (legal
move, permission, four eyes, a note for rejections), saves the item object by object (so
simple-history records it) and appends a `ReviewRecord`. Readers only ever see approved items.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from .models import ReviewRecord, ReviewState
from .search import refresh_search_index

LEGAL_MOVES = {
    (ReviewState.SUBMITTED, ReviewState.APPROVED),
    (ReviewState.SUBMITTED, ReviewState.REJECTED),
    (ReviewState.APPROVED, ReviewState.RETRACTED),
    (ReviewState.REJECTED, ReviewState.SUBMITTED),
    (ReviewState.RETRACTED, ReviewState.SUBMITTED),
    (ReviewState.APPROVED, ReviewState.SUBMITTED),
}
DECISIONS = {ReviewState.APPROVED, ReviewState.REJECTED, ReviewState.RETRACTED}

#: Editing these fields of an approved item sends it back to review.
REVIEWED_FIELDS = {
    "evidenceitem": ("url", "claim", "quote", "title", "publisher", "required_tier_id"),
    "relationship": ("source_id", "target_id", "kind", "description"),
}


class ReviewError(Exception):
    """A refused review action; its message is shown to the moderator as it is."""


def can_moderate(user, institution) -> bool:
    """Moderators hold `moderate_evidence` globally (group) or on this one institution (guardian)."""
    if not (user and user.is_active and user.is_staff):
        return False
    return user.has_perm("profiles.moderate_evidence") or user.has_perm("profiles.moderate_evidence", institution)


def _check_decision(item, to_state, actor, note):
    institution = item.reviewed_institution
    if not can_moderate(actor, institution):
        raise PermissionDenied(f"You may not moderate evidence for “{institution}”.")
    if (
        item.submitted_by_id is not None
        and item.submitted_by_id == actor.pk
        and not getattr(settings, "BTW_ALLOW_SELF_REVIEW", False)
    ):
        raise ReviewError("Four eyes: you submitted this item, so another moderator must decide it.")
    if to_state == ReviewState.REJECTED and not note.strip():
        raise ReviewError("A rejection needs a note for the analyst.")


@transaction.atomic
def transition(item, *, to_state: str, actor, note: str = ""):
    """Move one item to `to_state`; exactly one of two concurrent decisions wins."""
    model = type(item)
    current = model.objects.select_for_update().get(pk=item.pk)
    from_state = current.review_state
    if (from_state, to_state) not in LEGAL_MOVES:
        raise ReviewError(
            f"This item is {current.get_review_state_display().lower()} already; "
            f"it cannot become {ReviewState(to_state).label.lower()}. Reload to see the latest decision."
        )
    now = timezone.now()
    if to_state in DECISIONS:
        _check_decision(current, to_state, actor, note)
        current.reviewed_by = actor
        current.reviewed_at = now
        current.review_note = note
    current.review_state = to_state
    current._change_reason = f"review: {from_state} → {to_state}"
    current.save()
    ReviewRecord.objects.create(
        item=current,
        institution=current.reviewed_institution,
        from_state=from_state,
        to_state=to_state,
        actor=actor,
        note=note,
        created_at=now,
    )
    refresh_search_index([current.reviewed_institution.pk])
    if _readers_see_change(current, from_state, to_state):
        current.reviewed_institution.record_public_change(summary=_public_summary(current, to_state), at=now)
    item.__dict__.update({k: v for k, v in current.__dict__.items() if not k.startswith("_")})
    return item


def approve(item, *, actor, note: str = ""):
    return transition(item, to_state=ReviewState.APPROVED, actor=actor, note=note)


def reject(item, *, actor, note: str):
    return transition(item, to_state=ReviewState.REJECTED, actor=actor, note=note)


def retract(item, *, actor, note: str = ""):
    return transition(item, to_state=ReviewState.RETRACTED, actor=actor, note=note)


def resubmit(item, *, actor, note: str = ""):
    return transition(item, to_state=ReviewState.SUBMITTED, actor=actor, note=note)


@transaction.atomic
def record_submission(item, *, actor):
    """A new item enters review: stamp the submitter and open its record."""
    item.review_state = ReviewState.SUBMITTED
    if item.submitted_by_id is None:
        item.submitted_by = actor
    item.full_clean()
    item.save()
    ReviewRecord.objects.create(
        item=item, institution=item.reviewed_institution, from_state="", to_state=ReviewState.SUBMITTED, actor=actor
    )
    return item


def edit_needs_review(item, original) -> bool:
    """True when an approved/rejected item's reviewed fields changed against `original`."""
    fields = REVIEWED_FIELDS[item._meta.model_name]
    return original is not None and any(getattr(item, f) != getattr(original, f) for f in fields)


@transaction.atomic
def save_edited(item, *, actor):
    """Save an analyst's edit; a changed claim, URL or quote sends a decided item back to review."""
    original = type(item).objects.select_for_update().filter(pk=item.pk).first() if item.pk else None
    if original is None:
        return record_submission(item, actor=actor)
    item.full_clean()
    back_to_review = original.review_state != ReviewState.SUBMITTED and edit_needs_review(item, original)
    if back_to_review:
        item.review_state = original.review_state  # the transition below moves it
    item.save()
    if back_to_review:
        transition(item, to_state=ReviewState.SUBMITTED, actor=actor, note="Edited after review")
    return item


def _readers_see_change(item, from_state, to_state) -> bool:
    """Approvals and retractions of what readers could see change the public profile."""
    if ReviewState.APPROVED not in (from_state, to_state):
        return False
    return getattr(item, "required_tier_id", None) is None


def _public_summary(item, to_state) -> str:
    noun = "Source" if item._meta.model_name == "evidenceitem" else "Relationship"
    verb = "added" if to_state == ReviewState.APPROVED else "withdrawn"
    return f"{noun} {verb}."
