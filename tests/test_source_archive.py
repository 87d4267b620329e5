"""The archive service: an approved source is sent to a Save Page Now 2 compatible service (off by
default), its copy's address stored on the item and shown beside the source. Whatever the service does
wrong is recorded for staff and tried again later with a growing wait, up to a limit — never raised,
never a hung job. The service here is a real HTTP server on 127.0.0.1 (`tests/archive_server.py`)."""

from __future__ import annotations

import datetime
import logging
import time

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from profiles import review
from profiles.models import ArchiveState, EvidenceItem, SourceHost, TrackedSource
from profiles.sources import archive
from profiles.sources.archive import archive_source, archive_sources_job

from .archive_server import HANG, TIMEOUT, TIMESTAMP, archive_server, archive_service
from .factories import EvidenceItemFactory

__all__ = ["archive_server", "archive_service"]  # fixtures

S = EvidenceItem.Review
ACCESS, SECRET = "access-8c1f0e", "secret-do-not-leak-5b7d2a"


@pytest.fixture
def approved(analyst, moderator):
    """`approved()` → an evidence item a moderator approved just now (its capture is not run here)."""

    def make(**kwargs):
        item = EvidenceItemFactory(review_state=S.SUBMITTED, submitted_by=analyst, **kwargs)
        review.approve(item, actor=moderator)
        item.refresh_from_db()
        return item

    return make


def tracked(item) -> TrackedSource:
    return TrackedSource.objects.get(evidence=item)


def time_passes():
    """As if every wait had run out: in-progress items are due, the service's asked-for wait is over."""
    now = timezone.now()
    TrackedSource.objects.filter(archive_state__in=archive.IN_PROGRESS).update(archive_next_at=now)
    SourceHost.objects.update(not_before=now)


def next_attempt(item) -> str:
    """Run the item's steps until one ends an attempt (a job that failed is asked for afresh first)."""
    outcome = archive_source.call(item.pk)
    while outcome in ("asked", "pending"):
        time_passes()
        outcome = archive_source.call(item.pk)
    return outcome


def seconds_until(moment) -> float:
    return (moment - timezone.now()).total_seconds()


# --- off by default -----------------------------------------------------------------------------------------


def test_the_archive_service_is_off_by_default_and_asks_nothing(settings, archive_server, approved):
    archive_server.reset()
    assert settings.BTW_ARCHIVE_URL == "" and not archive.enabled()
    item = approved()
    assert archive.start(item.pk) is False
    assert archive_source.call(item.pk) == "off"
    assert archive_sources_job.call() == {"off": 1}
    assert archive_server.requests == []
    assert not TrackedSource.objects.filter(evidence=item).exclude(archive_state=ArchiveState.NOT_ASKED).exists()
    assert archive.describe(None) == [("Archive service", "Off (BTW_ARCHIVE_URL is not set)")]


# --- the copy is made, stored and shown ---------------------------------------------------------------------


def test_an_approved_source_is_archived_and_its_copy_shown_beside_it(archive_service, approved, client):
    archive_service.pending_polls = 1
    item = approved(url="https://news.example.org/racks")
    assert archive.start(item.pk) is True  # the immediate backend runs the first step: the save request
    assert archive_service.saves() == [{"url": item.url, "skip_first_archive": "1"}]
    _, path, headers, _ = archive_service.requests[0]
    assert (path, headers["Accept"]) == ("/save", "application/json")
    assert tracked(item).archive_state == ArchiveState.PENDING
    assert 25 < seconds_until(tracked(item).archive_next_at) <= 30  # polled after the poll interval

    assert archive_source.call(item.pk) == "not-due"
    assert archive_service.polled() == 0
    time_passes()
    assert archive_source.call(item.pk) == "pending"
    time_passes()
    assert archive_source.call(item.pk) == "archived"

    item.refresh_from_db()
    state = tracked(item)
    assert item.snapshot_url == f"{archive_service.base}/web/{TIMESTAMP}/{item.url}"
    assert (state.archive_state, state.archive_error, state.archive_job) == (ArchiveState.ARCHIVED, "", "")
    assert state.archived_at is not None and state.archive_next_at is None
    assert item.history.first().history_change_reason == "archived by the archive service"
    page = client.get(item.institution.get_absolute_url())
    assert f'href="{item.snapshot_url}"' in page.content.decode()


def test_running_the_job_again_makes_no_second_save_request(archive_service, approved):
    item = approved()
    archive.start(item.pk)
    assert archive.start(item.pk) is False  # already asked
    assert archive_source.call(item.pk) == "not-due"
    assert archive_sources_job.call() == {}
    time_passes()
    assert archive_source.call(item.pk) == "pending"
    time_passes()
    assert archive_source.call(item.pk) == "archived"
    assert archive_source.call(item.pk) == "skipped"
    assert archive.start(item.pk) is False  # archived for this approval
    assert len(archive_service.saves()) == 1
    assert item.history.filter(history_change_reason="archived by the archive service").count() == 1


def test_a_new_approval_is_archived_again(archive_service, approved, moderator, analyst):
    archive_service.pending_polls = 0
    item = approved()
    archive.start(item.pk)
    time_passes()
    assert archive_source.call(item.pk) == "archived"
    review.retract(item, actor=moderator, note="Wrong story.")
    review.transition(item, to_state=S.SUBMITTED, actor=analyst)
    review.approve(item, actor=moderator)
    assert archive.start(item.pk) is True
    assert len(archive_service.saves()) == 2


def test_a_new_approval_while_a_job_runs_asks_anew(archive_service, approved, moderator, analyst):
    """The URL may have been corrected between the approvals: the old job's copy is not this approval's."""
    archive_service.pending_polls = 10**6
    item = approved()
    first_url = item.url
    archive.start(item.pk)
    review.retract(item, actor=moderator, note="Wrong URL.")
    EvidenceItem.objects.filter(pk=item.pk).update(url="https://news.example.org/corrected")
    item.refresh_from_db()
    review.transition(item, to_state=S.SUBMITTED, actor=analyst)
    review.approve(item, actor=moderator)
    assert archive.start(item.pk) is True
    assert [form["url"] for form in archive_service.saves()] == [first_url, "https://news.example.org/corrected"]
    assert archive.start(item.pk) is False


def test_a_misconfigured_service_address_is_recorded(settings, archive_service, approved):
    settings.BTW_ARCHIVE_URL = "web.archive.org"
    item = approved()
    archive.start(item.pk)
    assert tracked(item).archive_error == "BTW_ARCHIVE_URL is not an http(s) URL"


def test_a_retracted_item_is_not_archived(archive_service, approved, moderator):
    item = approved()
    archive.start(item.pk)
    review.retract(item, actor=moderator, note="Withdrawn by the publisher.")
    time_passes()
    polls = archive_service.polled()
    assert archive_source.call(item.pk) == "skipped"
    assert archive_sources_job.call() == {}
    assert archive_service.polled() == polls
    item.refresh_from_db()
    assert item.snapshot_url == "" and tracked(item).archive_state == ArchiveState.PENDING
    assert archive.start(item.pk) is False  # not approved: not asked


def test_a_step_already_taken_by_another_worker_is_left_alone(archive_service, approved):
    """A step claims its item before asking: a second worker arriving meanwhile asks nothing."""
    item = approved()
    archive.start(item.pk)
    time_passes()
    claim = archive._claim(item.pk, timezone.now())  # a worker in the middle of its poll
    assert archive_source.call(item.pk) == "not-due" and archive_service.polled() == 0
    archive._record_progress(item.pk, claim, archive.poll(claim.job, claim.url), timezone.now())
    assert archive_service.polled() == 1


def test_with_the_database_queue_start_leaves_the_request_to_a_worker(settings, archive_service, approved):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    item = approved()
    assert archive.start(item.pk) is True and archive_service.requests == []
    job = DBTaskResult.objects.get(task_path="profiles.sources.archive.archive_source")
    assert job.args_kwargs == {"args": [item.pk], "kwargs": {}}
    assert tracked(item).archive_state == ArchiveState.PENDING


def test_an_item_retracted_before_the_start_is_never_asked(archive_service, approved, moderator):
    item = approved()
    review.retract(item, actor=moderator, note="Withdrawn.")
    assert archive.start(item.pk) is False and archive_service.requests == []


# --- the keys ---------------------------------------------------------------------------------------------------


def test_the_keys_go_in_the_authorization_header_and_nowhere_else(settings, archive_service, approved, caplog):
    archive_service.keys = (ACCESS, SECRET)
    settings.BTW_ARCHIVE_ACCESS_KEY, settings.BTW_ARCHIVE_SECRET_KEY = ACCESS, SECRET
    item = approved()
    with caplog.at_level(logging.DEBUG):
        archive.start(item.pk)
        archive_service.status_mode = "down"  # a failure is logged and recorded: without the keys
        time_passes()
        assert archive_source.call(item.pk) == "retrying"
        archive_service.status_mode = "ok"
        time_passes()
        archive_source.call(item.pk)
        time_passes()
        assert archive_source.call(item.pk) == "archived"
    assert {headers["Authorization"] for _, _, headers, _ in archive_service.requests} == {f"LOW {ACCESS}:{SECRET}"}
    stored = [*TrackedSource.objects.values_list(), *EvidenceItem.history.values_list()]
    assert SECRET not in repr(stored) and SECRET not in caplog.text
    assert SECRET not in repr(archive.describe(tracked(item)))


def test_a_service_that_wants_keys_refuses_us_without_them_readably(archive_service, approved):
    archive_service.keys = (ACCESS, SECRET)
    item = approved()
    archive.start(item.pk)
    state = tracked(item)
    assert state.archive_state == ArchiveState.RETRYING and state.archive_attempts == 1
    assert "refused our keys (HTTP 401)" in state.archive_error and "BTW_ARCHIVE_ACCESS_KEY" in state.archive_error
    assert "Authorization" not in archive_service.requests[0][2]


# --- every failure: recorded, retried later and later, then given up -------------------------------------------

FAILURES = [
    # (which request misbehaves, how, what staff read)
    ("save", "error", "would not make a copy: error:user-session-limit: You have already reached the limit"),
    ("save", "busy", "asked us to slow down (HTTP 429)"),
    ("save", "down", "failed (HTTP 500)"),
    ("save", "malformed", "answer is not a JSON object (application/json)"),
    ("save", "html", "answer is not a JSON object (text/html)"),
    ("save", "incomplete", "answer has no usable job id"),
    ("save", "huge", "answer is larger than the limit"),
    ("status", "error", "could not make a copy: error:not-found: The server cannot find the requested resource."),
    ("status", "down", "failed (HTTP 500)"),
    ("status", "malformed", "answer is not a JSON object"),
    ("status", "html", "answer is not a JSON object (text/html)"),
    ("status", "incomplete", "reported a copy without a usable timestamp"),
    ("status", "huge", "answer is larger than the limit"),
]


@pytest.mark.parametrize("request_kind, mode, message", FAILURES, ids=[f"{r}-{m}" for r, m, _ in FAILURES])
def test_each_failure_is_recorded_retried_with_growing_waits_then_given_up(
    archive_service, approved, request_kind, mode, message
):
    """Malformed and failed answers are recorded, never raised; staff read why, and when it tries again."""
    archive_service.pending_polls = 0
    item = approved()
    if request_kind == "status":
        archive.start(item.pk)  # the save request works; the polls misbehave
        time_passes()
    setattr(archive_service, f"{request_kind}_mode", mode)
    waits = []
    for attempt in (1, 2):
        if request_kind == "save" and attempt == 1:
            assert archive.start(item.pk) is True
        else:
            assert next_attempt(item) == "retrying"
        state = tracked(item)
        assert (state.archive_state, state.archive_attempts) == (ArchiveState.RETRYING, attempt)
        assert message in state.archive_error and state.archive_error.startswith("the archive service")
        waits.append(seconds_until(state.archive_next_at))
        assert archive_source.call(item.pk) in ("not-due", "waiting")  # nothing is asked before its time
        time_passes()
    # 60 s, then twice that (BTW_ARCHIVE_BACKOFF); a 429's Retry-After of 120 s when that is longer
    expected = [120, 120] if mode == "busy" else [60, 120]
    assert [round(wait) for wait in waits] == expected
    assert next_attempt(item) == "failed"  # BTW_ARCHIVE_MAX_ATTEMPTS = 3 under these tests
    state = tracked(item)
    assert (state.archive_state, state.archive_attempts, state.archive_job) == (ArchiveState.FAILED, 3, "")
    assert message in state.archive_error
    item.refresh_from_db()
    assert item.snapshot_url == ""
    time_passes()
    requests = len(archive_service.requests)
    assert archive_source.call(item.pk) == "skipped" and archive_sources_job.call() == {}
    assert archive.start(item.pk) is False  # given up for this approval
    assert len(archive_service.requests) == requests
    rows = dict(archive.describe(state))
    assert rows["Archive service"] == "Failed, given up" and message in rows["Last archive error"]


def test_a_429_waits_as_long_as_the_service_asks(archive_service, approved):
    archive_service.save_mode = "busy"
    first, second = approved(), approved()
    archive.start(first.pk)
    assert 115 < seconds_until(tracked(first).archive_next_at) <= 120  # Retry-After: 120, more than the backoff
    assert 115 < seconds_until(SourceHost.objects.get().not_before) <= 120
    archive_service.save_mode = "ok"
    assert archive.start(second.pk) is True
    assert archive_source.call(second.pk) == "waiting"  # the service asked us to wait: no one asks now
    assert len(archive_service.saves()) == 1


def test_a_failed_poll_keeps_the_job_and_asks_for_no_second_copy(archive_service, approved):
    archive_service.pending_polls = 0
    item = approved()
    archive.start(item.pk)
    archive_service.status_mode = "down"
    time_passes()
    assert archive_source.call(item.pk) == "retrying"
    archive_service.status_mode = "ok"
    time_passes()
    assert archive_source.call(item.pk) == "archived"
    assert len(archive_service.saves()) == 1 and tracked(item).archive_attempts == 1


def test_a_job_that_never_finishes_is_given_up_and_asked_again(settings, archive_service, approved):
    archive_service.pending_polls = 10**6
    item = approved()
    archive.start(item.pk)
    settings.BTW_ARCHIVE_POLL_LIMIT = 3600
    TrackedSource.objects.filter(evidence=item).update(archive_asked_at=timezone.now() - datetime.timedelta(hours=2))
    time_passes()
    assert archive_source.call(item.pk) == "retrying"
    state = tracked(item)
    assert "had not made the copy after 60 minutes" in state.archive_error and state.archive_job == ""
    time_passes()
    assert archive_source.call(item.pk) == "asked"
    assert len(archive_service.saves()) == 2


def test_a_hanging_service_does_not_hang_the_job(archive_service, approved):
    archive_service.save_mode = "hang"
    item = approved()
    began = time.monotonic()
    archive.start(item.pk)
    assert time.monotonic() - began < TIMEOUT + 1 < HANG
    state = tracked(item)
    assert state.archive_state == ArchiveState.RETRYING
    assert state.archive_error == f"the archive service did not answer within {TIMEOUT:g} s"


def test_an_unreachable_service_is_recorded(settings, archive_service, approved):
    settings.BTW_ARCHIVE_URL = "http://127.0.0.1:9"  # discard: nothing listens
    item = approved()
    archive.start(item.pk)
    assert tracked(item).archive_error.startswith("no answer from the archive service (")


# --- the periodic run ---------------------------------------------------------------------------------------


def test_the_periodic_run_takes_due_items_within_its_budget(archive_service, approved):
    archive_service.pending_polls = 0
    items = [approved() for _ in range(3)]
    for item in items:
        archive.start(item.pk)
    time_passes()
    assert archive_sources_job.call(budget=2) == {"archived": 2}
    assert archive_sources_job.call(budget=2) == {"archived": 1}
    assert all(tracked(item).archive_state == ArchiveState.ARCHIVED for item in items)


def test_the_periodic_run_stops_when_the_service_is_down(archive_service, approved):
    items = [approved() for _ in range(5)]
    archive_service.save_mode = "down"
    for item in items:
        archive.start(item.pk)
    time_passes()
    saves = len(archive_service.saves())
    assert archive_sources_job.call() == {"retrying": 3, "stopped": 1}
    assert len(archive_service.saves()) == saves + 3


# --- what staff read ------------------------------------------------------------------------------------------


def test_staff_read_the_archive_state_and_the_copy(archive_service, approved):
    archive_service.save_mode = "down"
    item = approved()
    archive.start(item.pk)
    rows = dict(archive.describe(tracked(item)))
    assert rows["Archive service"] == "Failed, will try again"
    assert rows["Archive attempts failed"] == "1 of 3"
    assert rows["Last archive error"] == "the archive service failed (HTTP 500)"
    assert rows["Next archive try"] != "—" and rows["Archived copy"] == "—"
    archive_service.save_mode = "ok"
    archive_service.pending_polls = 0
    time_passes()
    archive_source.call(item.pk)
    time_passes()
    archive_source.call(item.pk)
    rows = dict(archive.describe(TrackedSource.objects.select_related("evidence").get(evidence=item)))
    snapshot = f"{archive_service.base}/web/{TIMESTAMP}/{item.url}"
    assert rows["Archive service"] == "Archived" and rows["Last archive error"] == "—"
    assert rows["Archived copy"] == f'<a href="{snapshot}" rel="noopener">{snapshot}</a>'
