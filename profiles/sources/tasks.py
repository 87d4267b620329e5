"""Background jobs of the sources (django-tasks' `@task`, the same code as Django 6's Tasks API).

The others live beside the work they do: `archive.archive_source` / `archive.archive_sources_job` and
`recheck.check_sources_job` (the last two run periodically, `BTW_PERIODIC_JOBS`).

`capture_source` is enqueued by the approval itself (`profiles.review` → `capture_on_approval`),
inside the approval's transaction, so the two commit together or not at all: the database backend
writes the job row in that transaction, and the immediate backend of `make run` and the tests
(`jobs.backends.ImmediateOnCommitBackend`) runs it only once the approval has committed — never a
network fetch inside the approval, holding its row lock. Either way the job runs after the approval
is final, and nothing the job does (a dead source, a bug) can undo or fail it.
"""

from __future__ import annotations

import logging

from django_tasks import task

from ..models import EvidenceItem
from . import archive
from .capture import capture

logger = logging.getLogger(__name__)


@task()
def capture_source(evidence_id: int) -> str:
    """Capture an approved source (idempotent: a second run for one approval changes nothing).
    Returns the outcome, or "skipped" when the item is no longer approved."""
    try:
        check = capture(evidence_id)
    except Exception:
        # Not a bad source (those are recorded as failed captures) but the database or a bug: say so,
        # and let the queue record the job as failed.
        logger.exception("Capturing the source of evidence %s failed", evidence_id)
        raise
    if check is None:
        return "skipped"
    # A copy is asked for even when our own fetch failed: then it matters most. (Off unless configured.)
    archive.start(evidence_id)
    return check.outcome


def capture_on_approval(item) -> None:
    """Called in an approval's transaction: enqueue the capture of an evidence item's source (other
    reviewed items, relationships, have no source of their own)."""
    if isinstance(item, EvidenceItem):
        capture_source.enqueue(item.pk)
