"""The review workflow shared by evidence items and relationships.

submitted → approved | rejected; approved → retracted; rejected → submitted (after an edit).
Every transition goes through `transition()`, which locks the row, checks the rules (legal
move, permission, four eyes, a note for rejections and retractions), saves the item object by object (so
simple-history records it), appends a `ReviewRecord` and an audit-log entry. Readers only ever
see approved items.

Four eyes covers authorship: the submitter and everyone who changed a reviewed field since the
last approval (`Reviewed.authors`) are the item's authors, and no author decides it. What counts
as a reviewed field, and which profile an item belongs to, the models declare
(`review_fields`, `review_owner_field`); this module reads those hooks and knows no model by name.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import formats, timezone

import siteurl
from audit.services import Action, record, user_label
from membership.gating import can_view
from outbox.services import queue

from .models import ReviewRecord, ReviewState
from .permissions import MODERATE_PERM, can_moderate, moderated_institutions
from .public_changes import record_public_change
from .search import refresh_search_index
from .sources.tasks import capture_on_approval

logger = logging.getLogger(__name__)

LEGAL_MOVES = {
    (ReviewState.SUBMITTED, ReviewState.APPROVED),
    (ReviewState.SUBMITTED, ReviewState.REJECTED),
    (ReviewState.APPROVED, ReviewState.RETRACTED),
    (ReviewState.REJECTED, ReviewState.SUBMITTED),
    (ReviewState.RETRACTED, ReviewState.SUBMITTED),
    (ReviewState.APPROVED, ReviewState.SUBMITTED),
}
DECISIONS = {ReviewState.APPROVED, ReviewState.REJECTED, ReviewState.RETRACTED}


class ReviewError(Exception):
    """A refused review action; its message is shown to the moderator as it is."""


def self_review_allowed() -> bool:
    """The one-person-newsroom switch (off unless the operator turns it on)."""
    return bool(getattr(settings, "BTW_ALLOW_SELF_REVIEW", False))


def awaiting_review(user, model):
    """Submitted items `user` may decide (the admin index counts these).

    Items the user wrote or changed are left out (four eyes: another moderator decides them).
    """
    queryset = model._default_manager.submitted()
    if not (user and user.is_active and user.is_staff):
        return queryset.none()
    if not user.has_perm(MODERATE_PERM):
        queryset = queryset.filter(**{f"{model.review_owner_field}__in": moderated_institutions(user)})
    if not self_review_allowed():
        queryset = queryset.exclude(submitted_by=user).exclude(authors=user)
    return queryset


def review_queue(user, model):
    """The moderation queue: `awaiting_review`, oldest submission first (indexed on submitted_at)."""
    return awaiting_review(user, model).order_by("submitted_at", "pk")


def author_ids(item) -> set[int]:
    """The item's authors: its submitter and everyone who changed a reviewed field since the last
    approval (one query, or none when the admin prefetched `authors`)."""
    ids = {user.pk for user in item.authors.all()} if item.pk else set()
    if item.submitted_by_id is not None:
        ids.add(item.submitted_by_id)
    return ids


def is_author(item, user) -> bool:
    """Four eyes: an author may not decide the item (unless a one-person newsroom allows it)."""
    return getattr(user, "pk", None) in author_ids(item) and not self_review_allowed()


def _check_permission(item, actor):
    institution = item.reviewed_institution
    if not can_moderate(actor, institution):
        raise PermissionDenied(f"You may not moderate evidence for “{institution}”; nothing was changed.")


#: Decisions that must say why: the analyst reads a rejection's note, the record keeps a retraction's.
_NOTE_NEEDED = {
    ReviewState.REJECTED: "A rejection needs a note for the analyst.",
    ReviewState.RETRACTED: "A retraction needs a note for the record: why readers should no longer see it.",
}


def _check_decision(item, to_state, actor, note):
    if is_author(item, actor):
        raise ReviewError(
            "Four eyes: you wrote or changed this item, so another moderator must decide it; nothing was changed."
        )
    if to_state in _NOTE_NEEDED and not note.strip():
        raise ReviewError(_NOTE_NEEDED[to_state])


#: How a refused move reads: "it cannot be <verb> now".
_VERBS = {
    ReviewState.APPROVED: "approved",
    ReviewState.REJECTED: "rejected",
    ReviewState.RETRACTED: "retracted",
    ReviewState.SUBMITTED: "sent back to review",
}


def _illegal_move_message(current, to_state) -> str:
    """Say what the item is now (and who decided it) — the loser of a race reads this."""
    state = current.review_state
    if state == ReviewState.SUBMITTED:
        if to_state == ReviewState.SUBMITTED:
            return "This item is already awaiting review; nothing was changed."
        return (
            "This item is awaiting review, not approved: only approved items can be retracted. "
            "Nothing was changed."
        )
    label = current.get_review_state_display().lower()
    by = ""
    if current.reviewed_by_id is not None:
        reviewer = current.reviewed_by
        by = f" by {user_label(reviewer)}"
    when = ""
    if current.reviewed_at is not None:
        when = f" on {formats.date_format(timezone.localtime(current.reviewed_at), 'j M Y, H:i')}"
    return (
        f"This item was already {label}{by}{when}; it cannot be {_VERBS[ReviewState(to_state)]} now. "
        "Nothing was changed — reload to see the latest decision."
    )


@transaction.atomic
def transition(item, *, to_state: str, actor, note: str = ""):
    """Move one item to `to_state`; exactly one of two concurrent decisions wins."""
    model = type(item)
    current = model.objects.select_for_update().get(pk=item.pk)
    from_state = current.review_state
    deciding = to_state in DECISIONS
    if deciding:
        _check_permission(current, actor)  # first: a non-moderator learns nothing else
    if (from_state, to_state) not in LEGAL_MOVES:
        raise ReviewError(_illegal_move_message(current, to_state))
    now = timezone.now()
    if deciding:
        _check_decision(current, to_state, actor, note)
        current.reviewed_by = actor
        current.reviewed_at = now
        current.review_note = note
    current.review_state = to_state
    if to_state == ReviewState.SUBMITTED:
        current.submitted_at = now  # back in the queue: its age starts again
    current._change_reason = f"review: {from_state} → {to_state}"
    current._history_user = actor  # the decider, also outside a web request (scripts, commands)
    current.save()
    _recorded(current, from_state=from_state, to_state=to_state, actor=actor, note=note, at=now)
    item.__dict__.update({k: v for k, v in current.__dict__.items() if not k.startswith("_")})
    return item


def _recorded(item, *, from_state, to_state, actor, note, at):
    """What follows every move: the append-only record, the audit log, the search index, the
    public "last updated" date, the submitter's e-mail (queued with the decision) — and, on approval, a new
    round of authorship."""
    institution = item.reviewed_institution
    ReviewRecord.objects.create(
        item=item, institution=institution, from_state=from_state, to_state=to_state, actor=actor, note=note,
        created_at=at,
    )
    if to_state in DECISIONS:
        authors = sorted(author_ids(item))
        record(
            actor=actor,
            action=Action.REVIEW,
            target=item,
            summary=f"{user_label(actor)} {_VERBS[ReviewState(to_state)]} {item._meta.verbose_name} “{item}”.",
            data={"from": from_state, "to": to_state, "note": note, "institution": institution.pk,
                  "authors": authors},
            at=at,
        )
        if to_state == ReviewState.APPROVED:
            item.authors.clear()  # authorship counts from the last approval
            # The source's capture job, queued in the approval's transaction (profiles.sources.tasks).
            capture_on_approval(item)
        # Queued in the decision's own transaction: the outbox row commits with the decision or not at
        # all, and the outbox sends it once the transaction has committed.
        notify_submitter(type(item), item.pk)
    refresh_search_index([institution.pk])
    if _readers_see_change(item, from_state, to_state):
        record_public_change(institution, summary=_public_summary(item, to_state), at=at)


def approve(item, *, actor, note: str = ""):
    return transition(item, to_state=ReviewState.APPROVED, actor=actor, note=note)


def reject(item, *, actor, note: str):
    return transition(item, to_state=ReviewState.REJECTED, actor=actor, note=note)


def retract(item, *, actor, note: str):
    return transition(item, to_state=ReviewState.RETRACTED, actor=actor, note=note)


@transaction.atomic
def record_submission(item, *, actor):
    """A new item enters review: stamp the submitter, make them its first author, open its record."""
    item.review_state = ReviewState.SUBMITTED
    item.submitted_at = timezone.now()
    if item.submitted_by_id is None:
        item.submitted_by = actor
    item.full_clean()
    item.save()
    if getattr(actor, "pk", None):
        item.authors.add(actor)
    ReviewRecord.objects.create(
        item=item, institution=item.reviewed_institution, from_state="", to_state=ReviewState.SUBMITTED, actor=actor
    )
    return item


#: Written only by `transition()` and `record_submission()`, never by an edit.
REVIEW_FIELDS = ("review_state", "submitted_by_id", "reviewed_by_id", "reviewed_at", "review_note", "submitted_at")


def moved_message(item) -> str:
    field = type(item)._meta.get_field(item.review_owner_field)
    return (
        f"A reviewed item stays with its {field.verbose_name}: add a new item to the other profile instead "
        "of moving this one. Nothing was changed."
    )


@transaction.atomic
def save_edited(item, *, actor):
    """Save an edit; a changed reviewed field sends a decided item back to review and makes the
    editor one of its authors, so they cannot approve it.

    The review fields come from the locked row, not from the form's copy: a moderator who decided
    the item while the analyst was editing keeps their decision (and its record). Going back to
    review happens in the same save as the edit, so no history row ever shows edited text as approved.
    """
    original = type(item).objects.select_for_update().filter(pk=item.pk).first() if item.pk else None
    if original is None:
        return record_submission(item, actor=actor)
    owner = type(item)._meta.get_field(item.review_owner_field)
    if getattr(item, owner.attname) != getattr(original, owner.attname):
        raise ValidationError({owner.name: moved_message(item)})
    for name in REVIEW_FIELDS:
        setattr(item, name, getattr(original, name))
    item.full_clean()
    changed = item.changed_review_fields(original)
    from_state = original.review_state
    back_to_review = bool(changed) and from_state != ReviewState.SUBMITTED
    now = timezone.now()
    if back_to_review:
        item.review_state = ReviewState.SUBMITTED
        item.submitted_at = now  # back in the queue: its age starts again
        item._change_reason = f"edited after review: {from_state} → {ReviewState.SUBMITTED}"
    item.save()
    if changed and getattr(actor, "pk", None):
        item.authors.add(actor)
    if back_to_review:
        _recorded(item, from_state=from_state, to_state=ReviewState.SUBMITTED, actor=actor,
                  note="Edited after review: " + ", ".join(changed), at=now)
    return item


def _readers_see_change(item, from_state, to_state) -> bool:
    """Approvals and retractions of what every reader could see change the public profile (which
    items every reader sees, the gate decides: members-only evidence moves nothing)."""
    if ReviewState.APPROVED not in (from_state, to_state):
        return False
    return can_view(AnonymousUser(), item)


def _public_summary(item, to_state) -> str:
    noun = item.public_noun
    verb = "added" if to_state == ReviewState.APPROVED else "withdrawn"
    return f"{noun} {verb}."


# --- telling the submitter ------------------------------------------------------------------

DECISION_SUBJECTS = {
    ReviewState.APPROVED: "approved",
    ReviewState.REJECTED: "rejected",
    ReviewState.RETRACTED: "retracted",
}


def notify_submitter(model, pk) -> bool:
    """E-mail the submitter a decision, through the outbox, inside the decision's transaction (a
    rolled-back decision queues nothing; the outbox sends only what committed).

    Only staff submitters are written to: the message names the item, which may be members-only.
    """
    item = model.objects.select_related("submitted_by", "reviewed_by").filter(pk=pk).first()
    if item is None or item.review_state not in DECISION_SUBJECTS:
        return False
    submitter = item.submitted_by
    if (
        submitter is None
        or not submitter.email
        or not (submitter.is_active and submitter.is_staff)
        or submitter.pk == item.reviewed_by_id
    ):
        return False
    send_decision_email(item=item, to=submitter.email)
    return True


def send_decision_email(*, item, to: str) -> None:
    """Plain text and HTML: what was decided, by whom, the moderator's note and a link to the item."""
    decision = DECISION_SUBJECTS[item.review_state]
    noun = item._meta.verbose_name
    try:
        admin_path = reverse(f"admin:profiles_{item._meta.model_name}_change", args=[item.pk])
    except NoReverseMatch:
        admin_path = ""
    reviewer = item.reviewed_by
    context = {
        "item": item,
        "noun": noun,
        "decision": decision,
        "institution": item.reviewed_institution,
        "reviewer_name": user_label(reviewer) if reviewer else "a moderator",
        "note": item.review_note,
        "item_url": siteurl.absolute(admin_path) if admin_path else "",
        "site_name": siteurl.name(),
    }
    subject = f"[{context['site_name']}] Your {noun} was {decision}: {item}"
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split())[:200],
        body=render_to_string("profiles/email/review_decision.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
    )
    message.attach_alternative(render_to_string("profiles/email/review_decision.html", context), "text/html")
    # Through the outbox: a mail outage delays the message (retried later) and never turns the
    # decision, which stands, into a 500.
    queue(message, kind=f"{noun} {decision}")
