"""What a look at a source means for the evidence item: the one place its source state is decided.

Every fetch of an approved source — the capture on approval, each re-check — is a `SourceCheck` row;
this module judges it against the item's **baseline** (the fetch it was verified by: the capture, or
the first later fetch that worked when the capture did not) and moves the item's `source_state`:

- **ok**      the text is the verified text, give or take `BTW_SOURCE_CHANGE_THRESHOLD` of its words;
- **moved**   that, but the address now ends somewhere else than the baseline's did;
- **changed** the text differs beyond the threshold (a body with no text: any other bytes);
- **gone**    404 or 410, or `BTW_SOURCE_GONE_AFTER` fetches in a row with no usable answer.

A 429 or 503 is the host asking us to wait, not a verdict: it changes no state and counts no failure.
A move of state is a save of the item under its row lock, with the reason, so it is a row of the item's
history and of the change log (readers see the label at once); a look that changes nothing writes only
the check and the bookkeeping (`TrackedSource`), never a history row.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit import services as audit

from ..models import CheckKind, CheckOutcome, EvidenceItem, ReviewState, SourceCheck, SourceState, TrackedSource
from ..models.sources import approval_of

#: Answers that ask us to come back later: no verdict on the source.
WAIT_STATUSES = frozenset({429, 503})
WORD = re.compile(r"\w+", re.UNICODE)
SHINGLE = 3  # words per shingle: a moved paragraph is not a change, a changed figure is
#: Re-checks whose text is kept: a moderator may accept them as the new baseline, and diffs show them.
KEEPS_TEXT = frozenset({CheckOutcome.CHANGED, CheckOutcome.MOVED})


@dataclass(frozen=True)
class Verdict:
    outcome: str  # CheckOutcome of this look
    state: str | None  # the item's new SourceState, or None to keep the one it has
    difference: float | None = None
    becomes_baseline: bool = False
    failed: bool = False  # counts toward "gone after N failures"
    wait: bool = False  # the host asked us to come back later


def host_of(url: str) -> str:
    try:
        return (urlsplit(url.strip()).hostname or "").lower()[:255]
    except ValueError:
        return ""


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = WORD.findall(text.lower())
    if len(words) < SHINGLE:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


def text_difference(before: str, after: str) -> float:
    """How much two texts differ, 0 (same words) to 1 (nothing in common): the Jaccard distance of
    their word 3-shingles. Linear in the texts' length, so a 5 MB page costs milliseconds, and blind
    to whitespace and case, which the hash already ignores or readers do not see."""
    a, b = _shingles(before), _shingles(after)
    if not a and not b:
        return 0.0
    return 1.0 - len(a & b) / len(a | b)


def judge(check: SourceCheck, baseline: SourceCheck | None, failures_before: int) -> Verdict:
    """The verdict on one fetch (pure: no database), given the baseline and the failures so far."""
    if check.status in WAIT_STATUSES and check.outcome == CheckOutcome.HTTP_ERROR:
        return Verdict(outcome=check.outcome, state=None, wait=True)
    if check.outcome == CheckOutcome.GONE:
        return Verdict(outcome=check.outcome, state=SourceState.GONE, failed=True)
    if check.outcome in (CheckOutcome.FAILED, CheckOutcome.HTTP_ERROR):
        gone = failures_before + 1 >= settings.BTW_SOURCE_GONE_AFTER
        return Verdict(outcome=check.outcome, state=SourceState.GONE if gone else None, failed=True)
    if baseline is None:  # the first fetch that worked: it is what the source is verified to say
        return Verdict(outcome=CheckOutcome.OK, state=SourceState.OK, becomes_baseline=True)
    if check.status == 304 or check.text_hash == baseline.text_hash:
        difference = 0.0
    elif baseline.text or check.text:
        difference = text_difference(baseline.text, check.text)
    else:  # no text on either side (a PDF): other bytes are another document
        difference = 1.0
    if difference > settings.BTW_SOURCE_CHANGE_THRESHOLD:
        return Verdict(outcome=CheckOutcome.CHANGED, state=SourceState.CHANGED, difference=difference)
    moved = check.status != 304 and check.final_url and check.final_url != baseline.final_url
    if moved:
        return Verdict(outcome=CheckOutcome.MOVED, state=SourceState.MOVED, difference=difference)
    return Verdict(outcome=CheckOutcome.OK, state=SourceState.OK, difference=difference)


def next_check_at(now: datetime.datetime) -> datetime.datetime:
    return now + datetime.timedelta(days=settings.BTW_SOURCE_CHECK_DAYS)


def _move(item: EvidenceItem, state: str, *, at, reason: str, verified_at=None, clear_snapshot=False) -> bool:
    """Save the item's new source state with the reason (a history row); False when nothing changed."""
    fields = ["updated_at"]
    if item.source_state != state:
        item.source_state, item.source_state_at = state, at
        fields += ["source_state", "source_state_at"]
    if verified_at is not None and verified_at != item.source_verified_at:
        item.source_verified_at = verified_at
        fields.append("source_verified_at")
    if clear_snapshot and item.snapshot_url:
        item.snapshot_url = ""
        fields.append("snapshot_url")
    if fields == ["updated_at"]:
        return False
    item._change_reason = reason
    item.save(update_fields=fields)
    return True


def _snapshot_is_of_another_url(item: EvidenceItem, approval) -> bool:
    """A new approval of an item whose URL was corrected: the archive's copy is of the old page."""
    if not item.snapshot_url:
        return False
    before = SourceCheck.objects.filter(evidence=item, approved_at__lt=approval).captures().order_by("-approved_at")
    previous = before.values_list("url", flat=True).first()
    return previous is not None and previous != item.url


def _reason(check: SourceCheck, verdict: Verdict) -> str:
    what = "capture on approval" if check.kind == CheckKind.CAPTURE else "source re-check"
    label = SourceState(verdict.state).label.lower() if verdict.state is not None else ""
    detail = check.message  # set for errors and 4xx/5xx answers
    if verdict.state == SourceState.CHANGED and verdict.difference is not None:
        detail = f"{verdict.difference:.0%} of the text differs from the verified text"
    elif verdict.state == SourceState.MOVED:
        detail = f"now at {check.final_url}"
    return f"{what}: {label}" + (f" ({detail})" if detail else "")


@transaction.atomic
def record(evidence_id: int, check_fields: dict, *, kind: str, approved_at=None) -> SourceCheck | None:
    """Store one fetch of an approved item's source and apply its verdict, under the item's row lock.

    `check_fields` are `capture.check_fields(result)`. Returns the stored check, or None when the item
    is no longer approved (or, for a re-check, was re-approved since the fetch began: the new
    approval's capture decides). A capture is stored once per approval (the caller handles the race).
    """
    item = EvidenceItem.objects.select_for_update().filter(pk=evidence_id).first()
    if item is None or item.review_state != ReviewState.APPROVED:
        return None
    if approved_at is not None and item.reviewed_at != approved_at:
        return None
    tracked, _ = TrackedSource.objects.select_for_update().get_or_create(
        evidence=item, defaults={"host": host_of(item.url)}
    )
    if kind == CheckKind.CAPTURE:  # a new approval: its capture starts the watch afresh
        tracked.baseline, tracked.failures, tracked.etag, tracked.last_modified = None, 0, "", ""
        tracked.host = host_of(item.url)
    baseline = tracked.baseline
    check = SourceCheck(evidence=item, kind=kind, approved_at=approval_of(item), **check_fields)
    verdict = judge(check, baseline, tracked.failures)
    check.outcome, check.difference = verdict.outcome, verdict.difference
    if kind == CheckKind.RECHECK and verdict.outcome not in KEEPS_TEXT and not verdict.becomes_baseline:
        check.text = ""  # kept only where a diff or a new baseline may need it
    check.save()

    now = check.fetched_at
    tracked.last_checked_at = now
    if not verdict.wait:  # a host that asked us to wait keeps the source due (the run puts it back)
        tracked.next_check_at = next_check_at(now)
    if verdict.failed:
        tracked.failures += 1
    elif not verdict.wait:
        tracked.failures = 0
    if verdict.becomes_baseline:
        tracked.baseline, tracked.etag, tracked.last_modified = check, check.etag, check.last_modified
    if verdict.state is not None and verdict.state != item.source_state:
        tracked.acknowledged_at, tracked.acknowledged_by = None, None  # a new alert for the moderators
    tracked.save()

    new_state = verdict.state
    if kind == CheckKind.CAPTURE and new_state is None:
        new_state = SourceState.UNCHECKED  # no usable answer: not verified (yet) for this approval
    if new_state is not None:
        _move(
            item,
            new_state,
            at=now,
            reason=_reason(check, verdict),
            verified_at=now if verdict.becomes_baseline else None,
            clear_snapshot=kind == CheckKind.CAPTURE and _snapshot_is_of_another_url(item, check.approved_at),
        )
    return check


@transaction.atomic
def accept_current(item: EvidenceItem, *, by) -> SourceCheck | None:
    """A moderator's word that the source, as last fetched, still supports the claim: that fetch becomes
    the baseline and the source is verified again (a changed or moved source; a gone one has nothing to
    accept). Returns the new baseline, or None when there is no working fetch to accept."""
    item = EvidenceItem.objects.select_for_update().get(pk=item.pk)
    if item.source_state not in (SourceState.CHANGED, SourceState.MOVED):
        return None
    latest = (
        SourceCheck.objects.of_approval(item)
        .rechecks()
        .filter(outcome__in=(CheckOutcome.CHANGED, CheckOutcome.MOVED))
        .order_by("-fetched_at", "-pk")
        .first()
    )
    if latest is None:
        return None
    tracked = TrackedSource.objects.select_for_update().get(evidence=item)
    tracked.baseline, tracked.etag, tracked.last_modified = latest, latest.etag, latest.last_modified
    tracked.acknowledged_at, tracked.acknowledged_by = timezone.now(), by
    tracked.save()
    was = item.get_source_state_display().lower()
    item._history_user = by
    _move(
        item, SourceState.OK, at=timezone.now(), verified_at=latest.fetched_at,
        reason=f"source re-verified by a moderator: it still supports the claim ({was} at the fetch of "
        f"{latest.fetched_at:%Y-%m-%d %H:%M} UTC)",
    )
    audit.record(
        actor=by, action="source", target=item,
        summary=f"Accepted the source as it now reads ({was}); it is verified again.",
        data={"check": latest.pk, "was": was},
    )
    return latest


@transaction.atomic
def acknowledge(item: EvidenceItem, *, by) -> bool:
    """A moderator has looked at the alert and lets the label stand (a gone source whose archived copy
    still supports the claim): it leaves the queue until the state changes again."""
    done = TrackedSource.objects.filter(evidence=item, acknowledged_at__isnull=True).update(
        acknowledged_at=timezone.now(), acknowledged_by=by
    )
    if done:
        label = item.get_source_state_display().lower()
        audit.record(
            actor=by, action="source", target=item, summary=f"Looked at the source alert ({label}); the label stands.",
            data={"state": item.source_state},
        )
    return bool(done)
