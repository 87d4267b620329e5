"""Sources for the moderators to look at again: approved items whose source changed, moved or went
since it was verified, and what changed in its words.

- `for_moderator(user)`: the queue (`SourceAlertItem` rows), the user's moderated profiles only,
  alerts nobody has acknowledged yet unless asked for all of them.
- `comparison(item)`: the verified fetch and the latest one that differs, for the diff page.
- `word_diff(before, after)`: the two texts as runs of kept, removed and added words, long kept runs
  cut to a little context — what the moderator reads to decide whether the claim still stands.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ..models import CheckOutcome, ReviewState, SourceAlertItem, SourceCheck, TrackedSource
from ..permissions import MODERATE_PERM, moderated_institutions

#: Words of each text compared (a 5 MB page would make the page unreadable and the diff slow).
DIFF_WORDS = 20_000
#: Kept words shown on each side of a change.
CONTEXT_WORDS = 12


def for_moderator(user, *, include_acknowledged: bool = False):
    queryset = SourceAlertItem.objects.filter(
        review_state=ReviewState.APPROVED, source_state__in=SourceAlertItem.ALERT_STATES
    )
    if not include_acknowledged:
        queryset = queryset.filter(tracking__acknowledged_at__isnull=True)
    if not (user and user.is_active and user.is_staff):
        return queryset.none()
    if not user.has_perm(MODERATE_PERM):
        queryset = queryset.filter(institution__in=moderated_institutions(user))
    return queryset.order_by("source_state_at", "pk")


@dataclass(frozen=True)
class Comparison:
    baseline: SourceCheck | None  # what the source was verified to say
    latest: SourceCheck | None  # the newest look of this approval that found it changed or moved
    newest: SourceCheck | None  # the newest look of all (it may be a failure, or a 304)
    tracked: TrackedSource | None


def comparison(item) -> Comparison:
    tracked = TrackedSource.objects.select_related("baseline").filter(evidence_id=item.pk).first()
    checks = SourceCheck.objects.of_approval(item)
    latest = (
        checks.rechecks().filter(outcome__in=(CheckOutcome.CHANGED, CheckOutcome.MOVED)).order_by("-fetched_at", "-pk")
    ).first()
    newest = checks.order_by("-fetched_at", "-pk").first()
    return Comparison(baseline=tracked.baseline if tracked else None, latest=latest, newest=newest, tracked=tracked)


@dataclass(frozen=True)
class Run:
    op: str  # "same", "removed", "added", "skipped"
    text: str


def word_diff(before: str, after: str) -> list[Run]:
    """Removed and added runs of words, with CONTEXT_WORDS of kept words around each change."""
    a, b = before.split()[:DIFF_WORDS], after.split()[:DIFF_WORDS]
    runs: list[Run] = []
    matcher = difflib.SequenceMatcher(a=a, b=b)  # autojunk: common words anchor nothing, and it stays fast
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            runs.extend(_context(a[i1:i2], first=not runs, last=i2 == len(a)))
            continue
        if i2 > i1:
            runs.append(Run("removed", " ".join(a[i1:i2])))
        if j2 > j1:
            runs.append(Run("added", " ".join(b[j1:j2])))
    return runs


def _context(words: list[str], *, first: bool, last: bool) -> list[Run]:
    """A kept run, cut to its ends: what follows a change and what precedes the next one."""
    head = [] if first else words[:CONTEXT_WORDS]
    tail = [] if last else words[-CONTEXT_WORDS:]
    if len(head) + len(tail) >= len(words):
        return [Run("same", " ".join(words))]
    runs = [Run("same", " ".join(head))] if head else []
    runs.append(Run("skipped", f"{len(words) - len(head) - len(tail):,} words unchanged"))
    if tail:
        runs.append(Run("same", " ".join(tail)))
    return runs
