"""Background jobs: they run after the transaction that caused them commits, or never; a job whose
worker died goes back to the queue (and is given up after too many deaths).

Real worker processes killed mid-job: tests/test_queue_workers.py and tests/test_digest_queue_workers.py.
"""

import datetime
import importlib.util
import signal

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus, task_backends
from django_tasks_db.models import DBTaskResult

from jobs.backends import ImmediateOnCommitBackend
from jobs.leases import Heartbeat, requeue_abandoned
from jobs.models import WorkerHeartbeat
from jobs.tasks import ping

from .factories import EvidenceItemFactory

DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


class Abort(Exception):
    """Raised to roll an act back."""


@pytest.fixture
def database_queue(settings):
    settings.TASKS = DATABASE_QUEUE
    settings.BTW_TASK_LEASE = 60
    settings.BTW_TASK_MAX_ATTEMPTS = 3


# --- the immediate backend: make run and the tests ---------------------------------------------------------


def test_jobs_run_in_process_by_default():
    assert isinstance(task_backends["default"], ImmediateOnCommitBackend)
    result = ping.enqueue("pong")
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == "pong"


@pytest.mark.django_db(transaction=True)
def test_immediate_job_waits_for_its_transaction_to_commit():
    with transaction.atomic():
        result = ping.enqueue("after commit")
        assert result.status == TaskResultStatus.READY  # would otherwise see uncommitted state
    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == "after commit"


@pytest.mark.django_db(transaction=True)
def test_immediate_job_of_a_rolled_back_transaction_never_runs():
    with pytest.raises(Abort), transaction.atomic():
        result = ping.enqueue("never")
        raise Abort
    assert result.status == TaskResultStatus.READY and result.started_at is None


def test_unknown_backend_setting_stops_start_up():
    import subprocess
    import sys

    from .test_scale_out import ROOT

    run = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_DEBUG": "1", "BTW_TASKS_BACKEND": "redis"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0 and "BTW_TASKS_BACKEND is immediate or database, not 'redis'" in run.stderr


# --- the database backend: a job is a row of the enqueuing transaction ----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_job_enqueued_in_a_rolled_back_transaction_leaves_no_row(database_queue):
    with pytest.raises(Abort), transaction.atomic():
        ping.enqueue("never")
        assert DBTaskResult.objects.count() == 1  # written in the transaction…
        raise Abort
    assert DBTaskResult.objects.count() == 0  # …and gone with it


@pytest.mark.django_db(transaction=True)
def test_job_enqueued_in_a_committed_transaction_is_one_ready_row(database_queue):
    with transaction.atomic():
        result = ping.enqueue("later")
    [row] = DBTaskResult.objects.all()
    assert str(row.pk) == result.id and row.status == TaskResultStatus.READY
    assert row.args_kwargs == {"args": ["later"], "kwargs": {}}


def _capture_task_path():
    if importlib.util.find_spec("profiles.sources.tasks") is None:
        pytest.skip("source capture (profiles.sources.tasks.capture_source) is not built yet")
    return "profiles.sources.tasks.capture_source"


@pytest.mark.django_db(transaction=True)
def test_approval_that_rolls_back_leaves_no_job(database_queue, moderator, analyst):
    from profiles import review
    from profiles.models import EvidenceItem

    item = EvidenceItemFactory(review_state=EvidenceItem.Review.SUBMITTED, submitted_by=analyst)
    with pytest.raises(Abort), transaction.atomic():
        review.approve(item, actor=moderator)
        raise Abort
    item.refresh_from_db()
    assert item.review_state == EvidenceItem.Review.SUBMITTED
    assert DBTaskResult.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_approval_that_commits_leaves_exactly_one_capture_job(database_queue, moderator, analyst):
    from profiles import review
    from profiles.models import EvidenceItem

    capture = _capture_task_path()
    item = EvidenceItemFactory(review_state=EvidenceItem.Review.SUBMITTED, submitted_by=analyst)
    review.approve(item, actor=moderator)
    assert DBTaskResult.objects.filter(task_path=capture).count() == 1


# --- leases: jobs of dead workers go back to the queue -----------------------------------------------------


def _running_job(*, worker_ids, started_ago):
    ping.enqueue("x")
    row = DBTaskResult.objects.get()
    DBTaskResult.objects.filter(pk=row.pk).update(
        status=TaskResultStatus.RUNNING, worker_ids=worker_ids, started_at=timezone.now() - started_ago
    )
    return row.pk


def _beat(worker_id, ago=datetime.timedelta(0)):
    WorkerHeartbeat.objects.update_or_create(worker_id=worker_id, defaults={"last_beat_at": timezone.now() - ago})


@pytest.mark.django_db
def test_job_of_a_worker_gone_silent_goes_back_to_the_queue(database_queue):
    pk = _running_job(worker_ids=["dead"], started_ago=datetime.timedelta(minutes=5))
    _beat("dead", ago=datetime.timedelta(minutes=2))
    assert requeue_abandoned() == (1, 0)
    assert DBTaskResult.objects.get(pk=pk).status == TaskResultStatus.READY


@pytest.mark.django_db
def test_job_of_a_worker_that_never_beat_goes_back_to_the_queue(database_queue):
    pk = _running_job(worker_ids=["plain-db-worker"], started_ago=datetime.timedelta(minutes=5))
    assert requeue_abandoned() == (1, 0)
    assert DBTaskResult.objects.get(pk=pk).status == TaskResultStatus.READY


@pytest.mark.django_db
def test_long_job_of_a_live_worker_is_left_alone(database_queue):
    pk = _running_job(worker_ids=["dead", "alive"], started_ago=datetime.timedelta(hours=2))
    _beat("alive")
    assert requeue_abandoned() == (0, 0)
    assert DBTaskResult.objects.get(pk=pk).status == TaskResultStatus.RUNNING


@pytest.mark.django_db
def test_job_claimed_within_the_lease_is_left_alone(database_queue):
    pk = _running_job(worker_ids=["just-started"], started_ago=datetime.timedelta(seconds=5))
    assert requeue_abandoned() == (0, 0)
    assert DBTaskResult.objects.get(pk=pk).status == TaskResultStatus.RUNNING


@pytest.mark.django_db
def test_job_that_outlived_every_attempt_is_failed_with_the_reason(database_queue):
    pk = _running_job(worker_ids=["a", "b", "c"], started_ago=datetime.timedelta(minutes=5))
    assert requeue_abandoned() == (0, 1)
    row = DBTaskResult.objects.get(pk=pk)
    assert row.status == TaskResultStatus.FAILED and row.exception_class_path == "jobs.leases.WorkerLost"
    assert "3 workers died while running this job" in row.traceback


@pytest.mark.django_db
def test_heartbeat_row_lives_as_long_as_its_worker(database_queue):
    with Heartbeat("w-1") as heartbeat:
        assert WorkerHeartbeat.objects.alive(60).filter(worker_id="w-1").exists()
        assert heartbeat.interval == 15
    assert not WorkerHeartbeat.objects.filter(worker_id="w-1").exists()


@pytest.fixture
def signals_restored():
    """A worker run in this process installs its stop handlers; put the test runner's back."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.django_db(transaction=True)
def test_worker_runs_queued_jobs(database_queue, signals_restored):
    results = [ping.enqueue(n) for n in range(3)]
    call_command("run_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)
    for result in results:
        result.refresh()
        assert result.status == TaskResultStatus.SUCCESSFUL
    assert [r.return_value for r in results] == [0, 1, 2]
    assert not WorkerHeartbeat.objects.exists()  # a clean stop leaves no heartbeat behind


def test_worker_refuses_the_immediate_backend():
    with pytest.raises(Exception, match="not a database backend"):
        call_command("run_worker", "--batch")
