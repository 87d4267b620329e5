"""The archive service: a copy of each approved source, made by a Wayback "Save Page Now 2" compatible
service, stored on the item as `snapshot_url` and shown beside the source.

Off unless `BTW_ARCHIVE_URL` is set (e.g. https://web.archive.org); its keys come from the environment
(`BTW_ARCHIVE_ACCESS_KEY`, `BTW_ARCHIVE_SECRET_KEY`) and travel only in the `Authorization` header —
never stored, logged or put in a message. The service is the operator's choice, so it is not behind
the sources' SSRF guard, but every request has a deadline (`BTW_ARCHIVE_TIMEOUT`) and a size cap.

The protocol, in short: `POST <base>/save` with the form `url=…` asks for a copy and answers a job id;
`GET <base>/save/status/<job id>` says `pending`, `error` (with `status_ext` and a message) or `success`
(with the copy's `timestamp`), and the copy is then at `<base>/web/<timestamp>/<original url>`.

Each item's progress is a small state machine on its `TrackedSource` (`archive_*` fields), moved one
step per run of `archive_source`: `start()` marks it pending; a step with no job asks for one; a step
with a job polls it when due. Anything the service does wrong — an error, a 4xx or 5xx, a 429, a
timeout, an answer that is not the JSON it should be — is recorded as `archive_error` and tried again
with exponential backoff, until `BTW_ARCHIVE_MAX_ATTEMPTS` failures give up; it is never raised. The
row lock is held only to read and write that bookkeeping, never across a request: a step first
*claims* the item (moves its next time past the request's deadline, so a second worker leaves it
alone, and a worker killed mid-request lets it come back), then asks, then records the answer.

`archive_job` holds the job id and `archive_asked_at` when it was asked for, so polling can give up on
a job that never ends (`BTW_ARCHIVE_POLL_LIMIT`). A failed, given-up item keeps in
`archive_next_at` the time it gave up, so a later approval (and only that) asks again.
"""

from __future__ import annotations

import datetime
import http.client
import json
import logging
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urlencode, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.html import format_html
from django_tasks import task

from ..models import ArchiveState, EvidenceItem, ReviewState, SourceHost, TrackedSource
from .fetch import user_agent
from .state import host_of

logger = logging.getLogger(__name__)

REASON = "archived by the archive service"
IN_PROGRESS = (ArchiveState.PENDING, ArchiveState.RETRYING)
#: The bookkeeping this module writes (and only it: a re-check may be updating the rest of the row).
FIELDS = [
    "archive_state", "archive_attempts", "archive_next_at", "archive_job", "archive_asked_at", "archive_error",
    "archived_at",
]
TIMESTAMP = re.compile(r"\d{14}")
JOB_ID = re.compile(r"[\w.:-]{1,150}")
CHUNK = 16 * 1024
#: Service faults in a row after which a run of `archive_sources_job` stops: the service is down.
STOP_AFTER_FAULTS = 3


def _setting(name: str, default):
    """A tuning setting settings.py may leave out: `BTW_ARCHIVE_MAX_BYTES`, `_BACKOFF`, `_POLL_SECONDS`,
    `_POLL_LIMIT`, `_BUDGET`."""
    return getattr(settings, name, default)


def enabled() -> bool:
    return bool(settings.BTW_ARCHIVE_URL.strip())


def _base() -> str:
    return settings.BTW_ARCHIVE_URL.strip().rstrip("/")


def _authorization() -> str:
    access, secret = settings.BTW_ARCHIVE_ACCESS_KEY, settings.BTW_ARCHIVE_SECRET_KEY
    return f"LOW {access}:{secret}" if access and secret else ""


# --- one request to the service ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """The service's answer to one request: its JSON object, or the problem with it."""

    data: dict | None = None
    problem: str = ""  # readable, for staff; "" when `data` is usable
    fault: bool = False  # the service itself failed (down, garbled, busy), not this one item's job
    retry_after: float | None = None  # seconds the service asked us to wait (429)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - timezone.now()).total_seconds())


def _read(response: http.client.HTTPResponse, sock, deadline: float, limit: int) -> bytes | None:
    """The body, read against the deadline; None when it is larger than `limit`."""
    chunks, size = [], 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        if sock is not None:
            sock.settimeout(remaining)
        chunk = response.read1(CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


def _request(method: str, path: str, form: dict | None = None) -> Answer:
    """One request to the service, never an exception for anything the service or the network does."""
    base = urlsplit(_base())
    if base.scheme not in ("http", "https") or not base.hostname:
        return Answer(problem="BTW_ARCHIVE_URL is not an http(s) URL", fault=True)
    timeout = float(settings.BTW_ARCHIVE_TIMEOUT)
    deadline = time.monotonic() + timeout
    connection_class = http.client.HTTPSConnection if base.scheme == "https" else http.client.HTTPConnection
    headers = {"Accept": "application/json", "User-Agent": user_agent()}
    body = None
    if form is not None:
        body = urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if authorization := _authorization():
        headers["Authorization"] = authorization
    connection = connection_class(base.hostname, base.port, timeout=timeout)
    try:
        connection.request(method, base.path + path, body=body, headers=headers)
        sock = connection.sock
        response = connection.getresponse()
        raw = _read(response, sock, deadline, int(_setting("BTW_ARCHIVE_MAX_BYTES", 1024 * 1024)))
    except TimeoutError:
        return Answer(problem=f"the archive service did not answer within {timeout:g} s", fault=True)
    except (OSError, http.client.HTTPException) as error:
        detail = getattr(error, "strerror", None) or error.__class__.__name__
        return Answer(problem=f"no answer from the archive service ({detail})", fault=True)
    finally:
        connection.close()
    return _interpret(response.status, response.getheader("Content-Type") or "", raw,
                      response.getheader("Retry-After"))


def _interpret(status: int, content_type: str, raw: bytes | None, retry_after: str | None) -> Answer:
    if status == 429:
        wait = _retry_after(retry_after)
        return Answer(problem="the archive service asked us to slow down (HTTP 429)", fault=True,
                      retry_after=float(_setting("BTW_ARCHIVE_BACKOFF", 60)) if wait is None else wait)
    if status in (401, 403):
        return Answer(problem=f"the archive service refused our keys (HTTP {status}): check BTW_ARCHIVE_ACCESS_KEY "
                              "and BTW_ARCHIVE_SECRET_KEY", fault=True)
    if status >= 500:
        return Answer(problem=f"the archive service failed (HTTP {status})", fault=True)
    if raw is None:
        return Answer(problem="the archive service's answer is larger than the limit", fault=True)
    if not 200 <= status < 300:
        return Answer(problem=f"the archive service answered HTTP {status}", data=_json_object(raw))
    data = _json_object(raw)
    if data is None:
        kind = content_type.split(";", 1)[0].strip() or "no content type"
        return Answer(problem=f"the archive service's answer is not a JSON object ({kind})", fault=True)
    return Answer(data=data)


def _json_object(raw: bytes) -> dict | None:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _said(data: dict | None, default: str) -> str:
    """What the service said went wrong (`status_ext`, `message`), short and printable."""
    if not data:
        return default
    parts = [str(data.get(key) or "") for key in ("status_ext", "message")]
    said = ": ".join(part for part in parts if part)
    said = "".join(ch for ch in said if ch.isprintable())[:200]
    return f"{default}: {said}" if said else default


def ask(url: str) -> tuple[str, Answer]:
    """Ask the service for a copy of `url`: (job id, answer), the job id "" when the answer has a problem."""
    answer = _request("POST", "/save", {"url": url, "skip_first_archive": "1"})
    if answer.problem:
        return "", Answer(problem=_said(answer.data, answer.problem), fault=answer.fault,
                          retry_after=answer.retry_after)
    data = answer.data
    if data.get("status") == "error":
        return "", Answer(problem=_said(data, "the archive service would not make a copy"))
    job_id = data.get("job_id")
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        return "", Answer(problem="the archive service's answer has no usable job id", fault=True)
    return job_id, answer


@dataclass(frozen=True)
class Progress:
    state: str  # "pending", "success" or "error" ("error" covers every problem)
    snapshot_url: str = ""
    answer: Answer = Answer()
    job_failed: bool = False  # the job itself ended in error: the next attempt asks afresh


def poll(job_id: str, url: str) -> Progress:
    """Where the service's job stands; a success gives the copy's address."""
    answer = _request("GET", "/save/status/" + quote(job_id, safe=""))
    if answer.problem:
        return Progress("error", answer=Answer(problem=_said(answer.data, answer.problem), fault=answer.fault,
                                               retry_after=answer.retry_after))
    data, status = answer.data, answer.data.get("status")
    if status == "pending":
        return Progress("pending", answer=answer)
    if status == "error":
        problem = _said(data, "the archive service could not make a copy")
        return Progress("error", answer=Answer(problem=problem), job_failed=True)
    if status != "success":
        return Progress("error", answer=Answer(problem="the archive service's answer has no known status", fault=True))
    timestamp, original = data.get("timestamp"), data.get("original_url")
    if not isinstance(timestamp, str) or not TIMESTAMP.fullmatch(timestamp):
        problem = "the archive service reported a copy without a usable timestamp"
        return Progress("error", answer=Answer(problem=problem, fault=True), job_failed=True)
    if not isinstance(original, str) or not original.startswith(("http://", "https://")):
        original = url  # the URL asked for: the archive finds its copy by either
    return Progress("success", snapshot_url=f"{_base()}/web/{timestamp}/{original}", answer=answer)


# --- the state machine ---------------------------------------------------------------------------------------


def backoff(attempts: int, retry_after: float | None = None) -> datetime.timedelta:
    """How long to wait after the `attempts`-th failure: doubling from `BTW_ARCHIVE_BACKOFF` seconds, at
    least what the service asked for, at most a day."""
    seconds = float(_setting("BTW_ARCHIVE_BACKOFF", 60)) * 2 ** max(attempts - 1, 0)
    seconds = max(seconds, retry_after or 0.0)
    return datetime.timedelta(seconds=min(seconds, 86400.0))


def _poll_interval() -> datetime.timedelta:
    return datetime.timedelta(seconds=float(_setting("BTW_ARCHIVE_POLL_SECONDS", 30)))


def _service_host() -> str:
    return "archive:" + (urlsplit(_base()).hostname or "")[:240]


@dataclass(frozen=True)
class Step:
    """What one run of `archive_source` did for one item."""

    outcome: str  # off, skipped, not-due, waiting, asked, pending, archived, retrying, failed
    fault: bool = False  # the service itself failed: later items of a run would fare no better
    wait: bool = False  # the service asked us to wait


@dataclass(frozen=True)
class Claim:
    url: str
    job: str  # the row's archive_job when claimed: the answer is recorded only if it is still that


def _claim(evidence_id: int, now: datetime.datetime) -> Claim | Step:
    """Take the item's next step for this run (or say why there is none), under the row lock."""
    with transaction.atomic():
        tracked = TrackedSource.objects.select_for_update(of=("self",)).filter(evidence_id=evidence_id).first()
        if tracked is None or tracked.archive_state not in IN_PROGRESS:
            return Step("skipped")
        item = EvidenceItem.objects.filter(pk=evidence_id).only("url", "review_state").first()
        if item is None or item.review_state != ReviewState.APPROVED:
            return Step("skipped")  # retracted or sent back: its state stays until it is approved again
        if tracked.archive_next_at is not None and tracked.archive_next_at > now:
            return Step("not-due")
        # Past the request's deadline: a second worker leaves it alone; a killed one lets it come back.
        lease = datetime.timedelta(seconds=float(settings.BTW_ARCHIVE_TIMEOUT) + 60)
        tracked.archive_next_at = now + lease
        tracked.save(update_fields=["archive_next_at"])
        return Claim(url=item.url, job=tracked.archive_job)


def _locked(evidence_id: int, claim: Claim) -> tuple[EvidenceItem, TrackedSource] | None:
    """The item and its row, locked in that order (as `state.record` does), if the claim still holds."""
    item = EvidenceItem.objects.select_for_update().filter(pk=evidence_id).first()
    tracked = TrackedSource.objects.select_for_update().filter(evidence_id=evidence_id).first()
    if item is None or tracked is None or item.review_state != ReviewState.APPROVED:
        return None
    if tracked.archive_state not in IN_PROGRESS or tracked.archive_job != claim.job or item.url != claim.url:
        return None  # moved on while we asked (another run recorded its answer, a new approval began)
    return item, tracked


def _fail(tracked: TrackedSource, answer: Answer, now, *, keep_job: bool) -> Step:
    """Record a failure: try again later, or give up after the last attempt."""
    tracked.archive_attempts += 1
    tracked.archive_error = answer.problem[:500]
    if not keep_job:
        tracked.archive_job = ""
    if tracked.archive_attempts >= settings.BTW_ARCHIVE_MAX_ATTEMPTS:
        tracked.archive_state, tracked.archive_next_at, tracked.archive_job = ArchiveState.FAILED, now, ""
    else:
        tracked.archive_state = ArchiveState.RETRYING
        tracked.archive_next_at = now + backoff(tracked.archive_attempts, answer.retry_after)
    tracked.save(update_fields=FIELDS)
    if answer.retry_after is not None:  # the whole service asked us to wait, not only for this item
        wait = datetime.timedelta(seconds=min(answer.retry_after, 86400.0))
        SourceHost.objects.update_or_create(
            host=_service_host(), defaults={"not_before": now + wait, "reason": answer.problem[:200]}
        )
    logger.warning("Archiving the source of evidence %s failed (attempt %s): %s",
                   tracked.evidence_id, tracked.archive_attempts, tracked.archive_error)
    outcome = "failed" if tracked.archive_state == ArchiveState.FAILED else "retrying"
    return Step(outcome, fault=answer.fault, wait=answer.retry_after is not None)


@transaction.atomic
def _record_asked(evidence_id: int, claim: Claim, job_id: str, answer: Answer, now) -> Step:
    locked = _locked(evidence_id, claim)
    if locked is None:
        return Step("skipped")
    _, tracked = locked
    if answer.problem:
        return _fail(tracked, answer, now, keep_job=False)
    tracked.archive_state, tracked.archive_job, tracked.archive_asked_at = ArchiveState.PENDING, job_id, now
    tracked.archive_next_at = now + _poll_interval()
    tracked.save(update_fields=FIELDS)
    return Step("asked")


@transaction.atomic
def _record_progress(evidence_id: int, claim: Claim, progress: Progress, now) -> Step:
    locked = _locked(evidence_id, claim)
    if locked is None:
        return Step("skipped")
    item, tracked = locked
    if progress.state == "error":
        return _fail(tracked, progress.answer, now, keep_job=not progress.job_failed)
    if progress.state == "pending":
        asked_at = tracked.archive_asked_at
        limit = datetime.timedelta(seconds=float(_setting("BTW_ARCHIVE_POLL_LIMIT", 3600)))
        if asked_at is not None and now - asked_at > limit:
            problem = f"the archive service had not made the copy after {limit.total_seconds() / 60:g} minutes"
            return _fail(tracked, Answer(problem=problem), now, keep_job=False)
        tracked.archive_state, tracked.archive_next_at = ArchiveState.PENDING, now + _poll_interval()
        tracked.save(update_fields=FIELDS)
        return Step("pending")
    try:
        snapshot_url = item._meta.get_field("snapshot_url").clean(progress.snapshot_url, item)
    except ValidationError:
        problem = "the archive service reported a copy at an address that is not a usable URL"
        return _fail(tracked, Answer(problem=problem, fault=True), now, keep_job=False)
    if item.snapshot_url != snapshot_url:
        item.snapshot_url = snapshot_url
        item._change_reason = REASON
        item.save(update_fields=["snapshot_url", "updated_at"])
    tracked.archive_state, tracked.archived_at = ArchiveState.ARCHIVED, now
    tracked.archive_job, tracked.archive_error, tracked.archive_next_at = "", "", None
    tracked.save(update_fields=FIELDS)
    logger.info("Archived the source of evidence %s: %s", item.pk, snapshot_url)
    return Step("archived")


def _service_waiting(now) -> bool:
    return SourceHost.objects.filter(host=_service_host(), not_before__gt=now).exists()


def step(evidence_id: int) -> Step:
    """One step of one item's archiving (see the module docstring); never raises for the service's faults."""
    if not enabled():
        return Step("off")
    now = timezone.now()
    if _service_waiting(now):
        return Step("waiting", wait=True)
    claim = _claim(evidence_id, now)
    if isinstance(claim, Step):
        return claim
    job_id = claim.job
    if not job_id:
        new_job, answer = ask(claim.url)
        return _record_asked(evidence_id, claim, new_job, answer, timezone.now())
    return _record_progress(evidence_id, claim, poll(job_id, claim.url), timezone.now())


def _wants_asking(tracked: TrackedSource, approved_at) -> bool:
    """Whether `start` should ask: not when this approval's source is already being archived, was
    archived or was given up on (a job asked for before this approval may be for another URL: ask anew)."""
    if tracked.archive_state in IN_PROGRESS:
        asked_at = tracked.archive_asked_at
        return bool(tracked.archive_job and asked_at and approved_at and asked_at < approved_at)
    if tracked.archive_state == ArchiveState.ARCHIVED:
        return tracked.archived_at is None or approved_at is None or tracked.archived_at < approved_at
    if tracked.archive_state == ArchiveState.FAILED:
        gave_up_at = tracked.archive_next_at
        return gave_up_at is None or approved_at is None or gave_up_at < approved_at
    return True


def start(evidence_id: int) -> bool:
    """Ask for a copy of an approved item's source (called once its capture is done, outside the
    approval's transaction); True when it was asked, False when off, not approved, or already asked
    for this approval."""
    if not enabled():
        return False
    with transaction.atomic():
        item = EvidenceItem.objects.filter(pk=evidence_id).only("url", "review_state", "reviewed_at").first()
        if item is None or item.review_state != ReviewState.APPROVED:
            return False
        tracked, _ = TrackedSource.objects.select_for_update().get_or_create(
            evidence_id=evidence_id, defaults={"host": host_of(item.url)}
        )
        if not _wants_asking(tracked, item.reviewed_at):
            return False
        tracked.archive_state, tracked.archive_attempts = ArchiveState.PENDING, 0
        tracked.archive_next_at, tracked.archive_job, tracked.archive_error = timezone.now(), "", ""
        tracked.save(update_fields=FIELDS)
    # After the commit: the immediate backend runs it at once, a worker picks it up; should this process
    # die first, the periodic `archive_sources_job` finds the item due anyway.
    archive_source.enqueue(evidence_id)
    return True


@task()
def archive_source(evidence_id: int) -> str:
    """One step of archiving one approved item's source; returns what it did."""
    return step(evidence_id).outcome


@task()
def archive_sources_job(budget: int | None = None) -> dict:
    """Take the due archive steps (new requests, polls, retries), at most `budget` of them; stops early
    when the service asks us to wait or fails `STOP_AFTER_FAULTS` times in a row. Returns the counts."""
    if not enabled():
        return {"off": 1}
    counts: dict[str, int] = {}
    budget = int(budget if budget is not None else _setting("BTW_ARCHIVE_BUDGET", 500))
    due = TrackedSource.objects.archive_due(timezone.now()).values_list("evidence_id", flat=True)[:budget]
    faults = 0
    for evidence_id in list(due):
        done = step(evidence_id)
        counts[done.outcome] = counts.get(done.outcome, 0) + 1
        faults = faults + 1 if done.fault else 0
        if done.wait or faults >= STOP_AFTER_FAULTS:
            counts["stopped"] = 1
            logger.warning("Archive run stopped early: the service %s", "asked us to wait" if done.wait else "fails")
            break
    return counts


# --- what staff see ------------------------------------------------------------------------------------------


def _when(moment) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}" if moment else "—"


def describe(tracked: TrackedSource | None) -> list[tuple[str, str]]:
    """The archive rows of an evidence item's staff page: state, attempts, next try, last error, the copy."""
    if not enabled() and (tracked is None or not tracked.archive_state):
        return [("Archive service", "Off (BTW_ARCHIVE_URL is not set)")]
    if tracked is None:
        return [("Archive service", ArchiveState.NOT_ASKED.label)]
    state = ArchiveState(tracked.archive_state)
    rows = [("Archive service", state.label + ("" if enabled() else " (the service is now off)"))]
    rows.append(("Archive attempts failed", f"{tracked.archive_attempts} of {settings.BTW_ARCHIVE_MAX_ATTEMPTS}"))
    if state in IN_PROGRESS:
        rows.append(("Next archive try", _when(tracked.archive_next_at)))
    elif state == ArchiveState.FAILED:
        rows.append(("Archive gave up", _when(tracked.archive_next_at)))
    rows.append(("Last archive error", tracked.archive_error or "—"))
    snapshot = tracked.evidence.snapshot_url
    rows.append(("Archived copy", format_html('<a href="{}" rel="noopener">{}</a>', snapshot, snapshot)
                 if snapshot else "—"))
    rows.append(("Archived at", _when(tracked.archived_at)))
    return rows
