"""Re-checks of approved sources: one run of `manage.py check_sources` and of the periodic job.

A run (`check_sources`) enrols approved items that have no `TrackedSource` yet, **claims** the due
sources it will fetch (their next check moves a lease ahead, so a second run at the same time — two
workers, cron and a worker — selects others, and a run that dies leaves them due again once the lease
ends), then fetches them politely: the sources of one host one after the other in one thread (never
two requests at once to a host), up to `BTW_SOURCE_CHECK_CONCURRENCY` hosts in parallel, each request
conditional on the validators of the verified fetch. `state.record` judges each answer; this module
only decides what to fetch, when, and how fast.

A 429 or 503 is the host asking us to wait: its `Retry-After` (seconds or an HTTP date; an hour when
absent, at most a day) goes into `SourceHost`, nothing more goes to that host in this run or before
that time, and its sources stay due.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone
from django_tasks import task

from ..models import CheckKind, CheckOutcome, EvidenceItem, ReviewState, SourceHost, TrackedSource
from . import state
from .capture import check_fields
from .fetch import fetch

logger = logging.getLogger(__name__)


def lease() -> datetime.timedelta:
    """How long a run holds the sources it claimed (`BTW_SOURCE_CHECK_LEASE`): longer than any run takes
    (a host's sources are fetched one by one), short enough that a dead run's sources are soon due again."""
    return datetime.timedelta(seconds=settings.BTW_SOURCE_CHECK_LEASE)


#: A host that asks us to wait and does not say how long: this long. One that asks for more: at most a day.
DEFAULT_WAIT = datetime.timedelta(hours=1)
MAX_WAIT = datetime.timedelta(days=1)
#: Outcomes of a run, in the order the summary names them.
COUNTED = ("ok", "moved", "changed", "gone", "failed")


@dataclass
class RunReport:
    """What one run did. Counts are of fetches; `peak_per_host` is the most requests the run itself had
    in flight to one host at once (1 when it kept its promise, 0 when it fetched nothing)."""

    checked: int = 0
    ok: int = 0
    moved: int = 0
    changed: int = 0
    gone: int = 0
    failed: int = 0  # no usable answer (errors, 5xx…): "gone" only after BTW_SOURCE_GONE_AFTER in a row
    waited: int = 0  # answered 429/503: the host asked us to wait
    skipped: int = 0  # no longer approved by the time its answer came
    errors: int = 0  # could not be stored (a bug or the database): due again after the lease
    enrolled: int = 0
    hosts: int = 0
    waiting_hosts: list[str] = field(default_factory=list)
    left: int = 0  # due (or not enrolled yet) and not fetched: the next run's
    elapsed: float = 0.0
    peak_per_host: int = 0

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """One line for the command's output and the log."""
        counts = ", ".join(f"{getattr(self, name)} {name}" for name in COUNTED)
        line = f"Checked {_count(self.checked, 'source')} on {_count(self.hosts, 'host')} in {self.elapsed:.1f} s"
        line += f": {counts}"
        if self.waiting_hosts:
            line += f"; {_count(len(self.waiting_hosts), 'host')} asked us to wait"
        if self.skipped:
            line += f"; {self.skipped} no longer approved"
        if self.errors:
            line += f"; {self.errors} could not be stored (see the log)"
        return line + f"; {self.left} left for the next run."


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@dataclass(frozen=True)
class _Due:
    """A claimed source: what its fetch needs, and its due time to give back if it is not fetched."""

    evidence_id: int
    host: str
    url: str
    etag: str
    last_modified: str
    due_at: datetime.datetime


class _Gauge:
    """Requests in flight per host, and the most there ever were: the run's own proof of politeness."""

    def __init__(self):
        self._lock = threading.Lock()
        self._now: dict[str, int] = {}
        self.peak: dict[str, int] = {}

    def enter(self, host: str) -> None:
        with self._lock:
            self._now[host] = self._now.get(host, 0) + 1
            self.peak[host] = max(self.peak.get(host, 0), self._now[host])

    def leave(self, host: str) -> None:
        with self._lock:
            self._now[host] -= 1


def retry_delay(value: str, now: datetime.datetime) -> datetime.timedelta:
    """How long a host asked us to wait: `Retry-After` in seconds or as an HTTP date, an hour when it is
    absent or unreadable, never less than nothing nor more than a day."""
    value = (value or "").strip()
    if value.isdigit():
        delay = datetime.timedelta(seconds=int(value))
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            when = None
        if when is None:
            return DEFAULT_WAIT
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        delay = when - now
    return max(datetime.timedelta(0), min(delay, MAX_WAIT))


def enrol(now: datetime.datetime, limit: int) -> int:
    """Start watching up to `limit` approved sources that have no `TrackedSource` (approved before
    re-checks existed, or loaded in bulk): due at once. Safe to run twice, or in two runs at once."""
    missing = list(_unenrolled().order_by("pk").values_list("pk", "url")[:limit])
    TrackedSource.objects.bulk_create(
        [TrackedSource(evidence_id=pk, host=state.host_of(url), next_check_at=now) for pk, url in missing],
        batch_size=1000,
        ignore_conflicts=True,
    )
    return len(missing)


def _unenrolled():
    return EvidenceItem.objects.filter(review_state=ReviewState.APPROVED, tracking__isnull=True)


def _candidates(now: datetime.datetime, host: str | None, *, waiting_too: bool = False):
    """Due sources (of `host`, when given), without those of hosts that asked us to wait."""
    due = TrackedSource.objects.due(now)
    if not waiting_too:
        due = due.exclude(host__in=SourceHost.objects.filter(not_before__gt=now).values("host"))
    return due.filter(host=host) if host else due


def claim(now: datetime.datetime, budget: int, host: str | None = None) -> list[_Due]:
    """Take up to `budget` due sources for this run: each moves a lease ahead, so no other run takes it.

    PostgreSQL: in one short transaction, skipping rows another run is claiming this instant. Without
    SKIP LOCKED (SQLite, which writes one transaction at a time): a source is ours when the conditional
    update moving its due time from what we read succeeds — a run that read it too finds it moved.
    """
    columns = ("evidence_id", "host", "evidence__url", "etag", "last_modified", "next_check_at")
    until = now + lease()
    if connection.features.has_select_for_update_skip_locked:
        with transaction.atomic():
            rows = list(
                _candidates(now, host).select_for_update(skip_locked=True, of=("self",)).values_list(*columns)[:budget]
            )
            TrackedSource.objects.filter(pk__in=[row[0] for row in rows]).update(next_check_at=until)
    else:
        rows = [
            row
            for row in _candidates(now, host).values_list(*columns)[:budget]
            if TrackedSource.objects.filter(pk=row[0], next_check_at=row[5]).update(next_check_at=until)
        ]
    return [_Due(*row) for row in rows]


def release(sources: list[_Due]) -> None:
    """Give sources that were claimed but not checked their due time back: they stay due."""
    for source in sources:
        TrackedSource.objects.filter(pk=source.evidence_id).update(next_check_at=source.due_at)


def remember_wait(host: str, retry_after: str, status: int | None, now: datetime.datetime) -> datetime.datetime:
    not_before = now + retry_delay(retry_after, now)
    reason = f"HTTP {status}" + (f", Retry-After: {retry_after}" if retry_after else ", no Retry-After")
    SourceHost.objects.update_or_create(host=host, defaults={"not_before": not_before, "reason": reason[:200]})
    return not_before


class _Run:
    """One run's fetching: per-host workers, the report they fill, and (on SQLite) one writer at a time."""

    def __init__(self, now: datetime.datetime, report: RunReport):
        self.now, self.report = now, report
        self.gauge = _Gauge()
        self.lock = threading.Lock()  # the report
        # SQLite has one writer at a time (and the tests' shared in-memory database refuses, rather than
        # waits for, a second one): the threads take turns at the database; their fetches still overlap.
        self.db_turn = threading.Lock() if connection.vendor == "sqlite" else None

    def host_worker(self, host: str, sources: list[_Due], own_connection: bool) -> None:
        try:
            for index, source in enumerate(sources):
                if not self.check_one(source):  # the host asked us to wait: the rest stay due
                    with self._db():
                        release(sources[index + 1 :])
                    break
        finally:
            if own_connection:
                connections.close_all()

    def check_one(self, source: _Due) -> bool:
        """Fetch and record one source; False when its host asked us to wait."""
        self.gauge.enter(source.host)
        try:
            result = fetch(source.url, if_none_match=source.etag, if_modified_since=source.last_modified)
        finally:
            self.gauge.leave(source.host)
        wait = result.status in state.WAIT_STATUSES and not result.error
        try:
            with self._db():
                check = state.record(source.evidence_id, check_fields(result), kind=CheckKind.RECHECK)
                if wait:
                    release([source])
                    remember_wait(source.host, result.retry_after, result.status, self.now)
        except Exception:  # noqa: BLE001  (one source's bug must not stop the run; its lease brings it back)
            logger.exception("Re-checking the source of evidence %s failed", source.evidence_id)
            self.count("errors")
            return not wait
        if wait:
            self.count("waited", waiting_host=source.host)
        elif check is None:
            self.count("skipped")
        else:
            self.count(_bucket(check.outcome))
        return not wait

    def count(self, name: str, waiting_host: str = "") -> None:
        with self.lock:
            setattr(self.report, name, getattr(self.report, name) + 1)
            self.report.checked += 1
            if waiting_host and waiting_host not in self.report.waiting_hosts:
                self.report.waiting_hosts.append(waiting_host)

    def _db(self):
        return self.db_turn if self.db_turn is not None else nullcontext()


def _bucket(outcome: str) -> str:
    return {
        CheckOutcome.OK: "ok",
        CheckOutcome.MOVED: "moved",
        CheckOutcome.CHANGED: "changed",
        CheckOutcome.GONE: "gone",
    }.get(outcome, "failed")


def check_sources(*, now=None, budget=None, concurrency=None, host=None) -> RunReport:
    """One re-check run (see the module docstring): at most `budget` sources, `concurrency` hosts at
    once, only `host`'s when given. Never raises for a bad source; returns what it did."""
    started = time.monotonic()
    now = now or timezone.now()
    budget = settings.BTW_SOURCE_CHECK_BUDGET if budget is None else budget
    concurrency = settings.BTW_SOURCE_CHECK_CONCURRENCY if concurrency is None else concurrency
    if budget < 1 or concurrency < 1:
        raise ValueError("budget and concurrency must be at least 1")
    host = host.strip().lower() if host else None
    report = RunReport(enrolled=enrol(now, budget))
    claimed = claim(now, budget, host)
    by_host: dict[str, list[_Due]] = {}
    for source in claimed:
        by_host.setdefault(source.host, []).append(source)
    report.hosts = len(by_host)
    run = _Run(now, report)
    # The busiest hosts first: the run ends when its longest host does, so start that one early.
    hosts = sorted(by_host.items(), key=lambda item: -len(item[1]))
    if concurrency == 1 or len(hosts) <= 1:
        for name, sources in hosts:  # nothing to overlap: in this thread, on its connection
            run.host_worker(name, sources, own_connection=False)
    else:
        with ThreadPoolExecutor(max_workers=min(concurrency, len(hosts)), thread_name_prefix="check-sources") as pool:
            for future in [pool.submit(run.host_worker, name, sources, True) for name, sources in hosts]:
                future.result()
    report.peak_per_host = max(run.gauge.peak.values(), default=0)
    report.left = _candidates(now, host, waiting_too=True).count() + (0 if host else _unenrolled().count())
    report.elapsed = time.monotonic() - started
    logger.info("check_sources: %s", report.summary())
    return report


@task()
def check_sources_job() -> dict:
    """The periodic re-check (scheduled by the deployment): one run with the settings, its report."""
    return check_sources().as_dict()
