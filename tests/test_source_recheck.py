"""Re-checks of approved sources (`check_sources`, `manage.py check_sources`, the periodic job) against a
real local HTTP server: each way a source can change lands in the right state, the item's history has a
row for every change of state and none otherwise, and the run is polite — one request at a time per
host, `Retry-After` and conditional requests honoured, a budget per run, no source fetched twice by
two runs at once."""

from __future__ import annotations

import datetime
import io
import re
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.utils import timezone

from profiles import review
from profiles.models import EvidenceItem, SourceCheck, SourceHost, TrackedSource
from profiles.sources.capture import capture
from profiles.sources.recheck import check_sources, check_sources_job, enrol, retry_delay

from .factories import EvidenceItemFactory
from .source_server import fetch_limits, host_names, source_server

__all__ = ["fetch_limits", "host_names", "source_server"]  # fixtures

State = EvidenceItem.Source
Outcome = SourceCheck.Outcome

pytestmark = pytest.mark.django_db

WORDS = str.split(
    "Foxconn and OpenAI agreed to co-design racks cabling and power systems for data centres in the United "
    "States the companies said on Thursday adding that production would start at plants in Ohio and Texas "
    "next year with the first systems shipped to customers before the end of the second quarter according to "
    "a statement published by both firms and a filing seen by reporters who asked about the size of the deal "
    "which neither company would disclose although analysts put it at several billion dollars over five years"
)


def article(words=WORDS, title="Foxconn and OpenAI partner") -> bytes:
    return f"<html><head><title>{title}</title></head><body><p>{' '.join(words)}</p></body></html>".encode()


@pytest.fixture
def verified(fetch_limits, source_server):
    """`verified("/a", body)` → an approved item whose source (served at that path) was captured: ok."""

    def make(path, body=None, headers=None, host="127.0.0.1"):
        source_server.pages[path] = (200, body or article(), headers or {})
        item = EvidenceItemFactory(url=source_server.url(path, host=host), reviewed_at=timezone.now())
        assert capture(item.pk).outcome == Outcome.OK
        item.refresh_from_db()
        assert item.source_state == State.OK
        return item

    return make


def make_due():
    TrackedSource.objects.update(next_check_at=timezone.now() - datetime.timedelta(seconds=1))


def recheck(**kwargs):
    make_due()
    return check_sources(**kwargs)


def fetched(server, path):
    return [headers for p, headers in server.requests if p == path]


def state_of(item):
    item.refresh_from_db()
    return item.source_state


# --- what a re-check finds -----------------------------------------------------------------------------------


def test_an_unchanged_page_stays_ok_and_writes_no_history_row(verified, source_server):
    item = verified("/same")
    history = item.history.count()
    report = recheck()
    assert (report.checked, report.ok) == (1, 1)
    assert state_of(item) == State.OK and item.history.count() == history
    check = SourceCheck.objects.rechecks().get()
    assert check.outcome == Outcome.OK and check.text == ""  # an ok re-check keeps no text
    assert TrackedSource.objects.get().next_check_at > timezone.now() + datetime.timedelta(days=6)


def test_text_changed_beyond_the_threshold_is_changed_with_a_history_row(verified, source_server):
    item = verified("/story")
    source_server.pages["/story"] = (200, article(WORDS[:20] + ["retracted"] * 30), {})
    report = recheck()
    assert report.changed == 1 and state_of(item) == State.CHANGED
    reason = item.history.first().history_change_reason
    assert reason.startswith("source re-check: changed (") and "differs from the verified text" in reason
    check = SourceCheck.objects.rechecks().get()
    assert check.outcome == Outcome.CHANGED and "retracted" in check.text and check.difference > 0.1


def test_a_small_edit_below_the_threshold_stays_ok(verified, source_server):
    item = verified("/typo")
    edited = list(WORDS)
    edited[40] = "Tuesday"
    source_server.pages["/typo"] = (200, article(edited), {})
    history = item.history.count()
    assert recheck().ok == 1
    assert state_of(item) == State.OK and item.history.count() == history
    assert 0 < SourceCheck.objects.rechecks().get().difference < 0.1


def test_a_page_redirected_to_a_new_address_with_the_same_text_is_moved(verified, source_server):
    item = verified("/old-address")
    source_server.pages["/old-address"] = (301, b"", {"Location": "/new-address"})
    source_server.pages["/new-address"] = (200, article(), {})
    assert recheck().moved == 1
    assert state_of(item) == State.MOVED
    new_address = source_server.url("/new-address")
    assert item.history.first().history_change_reason == f"source re-check: moved (now at {new_address})"


@pytest.mark.parametrize("status", [404, 410])
def test_a_page_not_found_or_removed_is_gone(verified, source_server, status):
    item = verified("/removed")
    source_server.pages["/removed"] = (status, b"<html>not here</html>", {})
    assert recheck().gone == 1
    assert state_of(item) == State.GONE
    assert item.history.first().history_change_reason == f"source re-check: no longer available (HTTP {status} " + (
        "Not Found)" if status == 404 else "Gone)"
    )


def test_failing_n_checks_in_a_row_is_gone_and_fewer_change_nothing(verified, source_server, settings):
    settings.BTW_SOURCE_GONE_AFTER = 3
    item = verified("/flaky")
    history = item.history.count()
    source_server.pages["/flaky"] = (500, b"oops", {})
    for _ in range(2):
        assert recheck().failed == 1
    assert state_of(item) == State.OK and item.history.count() == history
    assert TrackedSource.objects.get().failures == 2
    recheck()
    assert state_of(item) == State.GONE and item.history.count() == history + 1


def test_a_failure_between_successes_does_not_count_towards_gone(verified, source_server, settings):
    settings.BTW_SOURCE_GONE_AFTER = 2
    item = verified("/hiccup")
    source_server.pages["/hiccup"] = (500, b"oops", {})
    recheck()
    source_server.pages["/hiccup"] = (200, article(), {})
    recheck()
    source_server.pages["/hiccup"] = (500, b"oops", {})
    recheck()
    assert state_of(item) == State.OK and TrackedSource.objects.get().failures == 1


def test_a_source_back_after_being_gone_is_ok_again(verified, source_server):
    item = verified("/back")
    source_server.pages["/back"] = (404, b"", {})
    recheck()
    assert state_of(item) == State.GONE
    source_server.pages["/back"] = (200, article(), {})
    assert recheck().ok == 1
    assert state_of(item) == State.OK
    assert item.history.first().history_change_reason == "source re-check: verified"


def test_the_re_check_is_conditional_and_a_304_counts_as_unchanged(verified, source_server):
    item = verified("/tagged", headers={"ETag": '"v7"', "Last-Modified": "Mon, 01 Dec 2025 10:00:00 GMT"})
    history = item.history.count()
    assert recheck().ok == 1
    [_, recheck_request] = fetched(source_server, "/tagged")
    assert recheck_request["If-None-Match"] == '"v7"'
    assert recheck_request["If-Modified-Since"] == "Mon, 01 Dec 2025 10:00:00 GMT"
    check = SourceCheck.objects.rechecks().get()
    assert (check.status, check.outcome) == (304, Outcome.OK)
    assert state_of(item) == State.OK and item.history.count() == history


def test_an_item_no_longer_approved_is_not_fetched(verified, source_server, moderator):
    item = verified("/withdrawn")
    review.retract(item, actor=moderator, note="Withdrawn by the publisher.")
    source_server.requests.clear()
    report = recheck()
    assert report.checked == 0 and fetched(source_server, "/withdrawn") == []


def test_approved_items_without_a_watch_are_enrolled_and_checked(fetch_limits, source_server):
    """Evidence approved before re-checks existed (or loaded in bulk) has no capture: its first
    working fetch becomes what it is verified against."""
    source_server.pages["/legacy"] = (200, article(), {})
    item = EvidenceItemFactory(url=source_server.url("/legacy"), reviewed_at=timezone.now())
    report = check_sources()
    assert (report.enrolled, report.ok, report.left) == (1, 1, 0)
    assert state_of(item) == State.OK and item.source_verified_at is not None
    assert TrackedSource.objects.get().host == "127.0.0.1"
    assert check_sources().enrolled == 0  # already watched
    assert len(fetched(source_server, "/legacy")) == 1


# --- polite: budget, Retry-After, one request at a time per host ---------------------------------------------


def test_the_budget_is_respected_and_the_rest_stay_due(verified, source_server):
    items = [verified(f"/budget/{n}") for n in range(5)]
    report = recheck(budget=3)
    assert (report.checked, report.left) == (3, 2)
    assert TrackedSource.objects.due(timezone.now()).count() == 2
    assert SourceCheck.objects.rechecks().count() == 3
    report = check_sources(budget=3)  # the next run takes the rest
    assert (report.checked, report.left) == (2, 0)
    assert set(SourceCheck.objects.rechecks().values_list("evidence", flat=True)) == {i.pk for i in items}


def test_a_host_asking_to_wait_is_left_alone_until_the_time_it_named(verified, source_server, host_names):
    first, second = verified("/busy/1", host="a.test"), verified("/busy/2", host="a.test")
    other = verified("/calm", host="b.test")
    source_server.pages["/busy/1"] = (429, b"slow down", {"Retry-After": "120"})
    before = timezone.now()
    report = recheck(concurrency=1)
    assert (report.waited, report.ok, report.waiting_hosts) == (1, 1, ["a.test"])
    assert len(fetched(source_server, "/busy/1")) == 2 and len(fetched(source_server, "/busy/2")) == 1  # capture only
    wait = SourceHost.objects.get(host="a.test")
    assert before + datetime.timedelta(seconds=119) < wait.not_before < timezone.now() + datetime.timedelta(seconds=121)
    assert "429" in wait.reason
    assert {first.pk, second.pk} == set(TrackedSource.objects.due(timezone.now()).values_list("evidence", flat=True))
    assert state_of(first) == State.OK and state_of(other) == State.OK  # a 429 is no verdict

    assert check_sources().checked == 0  # still waiting: nothing goes to a.test

    source_server.pages["/busy/1"] = (200, article(), {})
    report = check_sources(now=timezone.now() + datetime.timedelta(seconds=125))
    assert (report.checked, report.ok, report.waiting_hosts) == (2, 2, [])
    assert len(fetched(source_server, "/busy/2")) == 2


@pytest.mark.parametrize(
    "header, expected",
    [
        ("120", datetime.timedelta(seconds=120)),
        ("", datetime.timedelta(hours=1)),
        ("soon", datetime.timedelta(hours=1)),
        ("999999", datetime.timedelta(days=1)),
        ("Wed, 03 Dec 2025 10:30:00 GMT", datetime.timedelta(minutes=30)),
        ("Wed, 03 Dec 2025 09:00:00 GMT", datetime.timedelta(0)),
    ],
)
def test_retry_after_is_read_as_seconds_or_a_date_within_a_day(header, expected):
    now = datetime.datetime(2025, 12, 3, 10, 0, tzinfo=datetime.UTC)
    assert retry_delay(header, now) == expected


@pytest.mark.django_db(transaction=True)
def test_one_request_at_a_time_per_host_while_several_hosts_are_fetched_at_once(
    fetch_limits, source_server, host_names
):
    for host in host_names:
        for n in range(3):
            EvidenceItemFactory(url=source_server.url(f"/inflight/{host}/{n}", host=host), reviewed_at=timezone.now())
    source_server.delay = 0.1
    report = check_sources(concurrency=4)
    assert (report.checked, report.hosts, report.ok) == (12, 4, 12)
    assert report.peak_per_host == 1
    assert source_server.peak == dict.fromkeys(host_names, 1)
    assert source_server.peak_total > 1  # the hosts were fetched in parallel


# --- the command and the job -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # two hosts at once: threads with their own connections
def test_the_command_prints_one_summary_line(verified, source_server, host_names):
    verified("/cmd/1", host="a.test")
    verified("/cmd/2", host="b.test")
    verified("/cmd/3", host="b.test")
    source_server.pages["/cmd/2"] = (410, b"", {})
    make_due()
    out = io.StringIO()
    call_command("check_sources", "--budget", "2", "--concurrency", "2", stdout=out)
    line = out.getvalue().strip()
    assert "\n" not in line
    assert re.fullmatch(
        r"Checked 2 sources on 2 hosts in \d+\.\d s: 1 ok, 0 moved, 0 changed, 1 gone, 0 failed; "
        r"1 left for the next run\.",
        line,
    ), line


def test_the_command_checks_one_host_when_asked(verified, source_server, host_names):
    verified("/only/a", host="a.test")
    verified("/only/b", host="b.test")
    make_due()
    out = io.StringIO()
    call_command("check_sources", "--host", "A.test", stdout=out)
    assert out.getvalue().startswith("Checked 1 source on 1 host in ")
    assert len(fetched(source_server, "/only/a")) == 2 and len(fetched(source_server, "/only/b")) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--budget", "0"], "--budget must be at least 1, not 0."),
        (["--budget", "many"], "--budget takes a whole number, not 'many'."),
        (["--concurrency", "-2"], "--concurrency must be at least 1, not -2."),
        (["--host", "https://a.test/page"], "--host takes a host name such as news.example.org, not 'https://a.test/page'."),
    ],
)
def test_the_command_refuses_bad_arguments_in_one_line(args, message):
    with pytest.raises(CommandError) as refused:
        call_command("check_sources", *args)
    assert str(refused.value) == message


def test_the_periodic_job_runs_one_check_with_the_settings(verified, source_server, settings):
    settings.BTW_SOURCE_CHECK_BUDGET = 1
    verified("/job/1")
    verified("/job/2")
    make_due()
    result = check_sources_job.enqueue()
    assert result.return_value["checked"] == 1 and result.return_value["left"] == 1
    assert result.return_value["peak_per_host"] == 1


# --- two runs at once (PostgreSQL: SKIP LOCKED) -----------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="Two runs at once claim rows with SELECT … FOR UPDATE SKIP LOCKED: PostgreSQL only (run with DATABASE_URL)",
)
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_never_fetch_the_same_source_twice(fetch_limits, source_server, host_names):
    for host in host_names:
        for n in range(5):
            EvidenceItemFactory(url=source_server.url(f"/inflight/{host}/{n}", host=host), reviewed_at=timezone.now())
    assert enrol(timezone.now(), 100) == 20
    barrier = threading.Barrier(2)
    reports = []

    def run():
        try:
            barrier.wait(timeout=10)
            reports.append(check_sources(budget=8, concurrency=4))
        finally:
            connections.close_all()

    runs = [threading.Thread(target=run) for _ in range(2)]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join(timeout=60)
    paths = [path for path, _ in source_server.requests]
    assert len(paths) == len(set(paths)) == 16  # each run took its own 8
    assert sorted(report.checked for report in reports) == [8, 8]
    assert SourceCheck.objects.rechecks().count() == 16
    assert TrackedSource.objects.due(timezone.now()).count() == 4
