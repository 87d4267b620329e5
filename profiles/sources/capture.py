"""Capture on approval: fetch an approved evidence item's source once and keep what it said.

One capture per approval, however often the job runs (a retried job, two workers racing): the
approval is named by the evidence's `reviewed_at`, and a unique constraint holds one capture per
(evidence, approval). The fetch runs outside any transaction and holds no lock, so a slow source
delays nobody; an item retracted or sent back to review before the job ran is not captured (its next
approval is).
"""

from __future__ import annotations

import logging

from django.db import IntegrityError

from ..models import EvidenceItem, ReviewState, SourceCheck
from . import state
from .fetch import FetchResult, fetch

logger = logging.getLogger(__name__)


def capture(evidence_id: int) -> SourceCheck | None:
    """The capture of the evidence's current approval (made now unless it exists), or None when the
    item is no longer approved. A source that cannot be fetched gives a capture that says why."""
    evidence = EvidenceItem.objects.filter(pk=evidence_id).only("pk", "url", "review_state", "reviewed_at").first()
    if evidence is None or evidence.review_state != ReviewState.APPROVED or evidence.reviewed_at is None:
        return None
    approval = {"evidence": evidence, "kind": SourceCheck.Kind.CAPTURE, "approved_at": evidence.reviewed_at}
    existing = SourceCheck.objects.filter(**approval).first()
    if existing is not None:
        return existing
    result = fetch(evidence.url)
    try:
        check = state.record(evidence_id, check_fields(result), kind=SourceCheck.Kind.CAPTURE,
                             approved_at=evidence.reviewed_at)
    except IntegrityError:  # another run of this job got there while we fetched: theirs stands
        return SourceCheck.objects.get(**approval)
    if check is None:  # retracted, sent back or approved again while we fetched
        return None
    logger.info("Captured evidence %s (%s): %s %s", evidence_id, result.url, check.outcome, result.error)
    return check


def _clean(value: str, limit: int) -> str:
    """Text a database column takes: no NUL (PostgreSQL refuses it), no longer than the column."""
    return value.replace("\x00", "")[:limit]


def check_fields(result: FetchResult) -> dict:
    """A fetch result as `SourceCheck` fields (captures now, re-checks later)."""
    return {
        "url": _clean(result.url, 2000),
        "final_url": _clean(result.final_url, 2000),
        "status": result.status,
        "content_type": _clean(result.content_type, 200),
        "size": result.size,
        "text_hash": result.text_hash,
        "title": _clean(result.title, 500),
        "text": _clean(result.text, len(result.text)),
        "redirects": [
            {"url": _clean(hop["url"], 2000), "status": hop["status"], "location": _clean(hop["location"], 2000)}
            for hop in result.redirects
        ],
        "error": result.error,
        "message": _clean(result.message, 500),
        "etag": _clean(result.etag, 200),
        "last_modified": _clean(result.last_modified, 100),
        "retry_after": _clean(result.retry_after, 100),
        "elapsed_ms": round(result.elapsed * 1000),
        "fetched_at": result.fetched_at,
        "outcome": SourceCheck.outcome_of(status=result.status, error=result.error),
    }
