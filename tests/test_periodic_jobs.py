"""Periodic jobs: each is enqueued once per period, however many workers' heartbeats ask."""

import datetime
import threading

import pytest
from django.db import connection
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from jobs.leases import Heartbeat
from jobs.models import PeriodicRun
from jobs.schedule import enqueue_due, periodic_jobs

pytestmark = pytest.mark.django_db

PING_EVERY_MINUTE = {"ping": {"task": "jobs.tasks.ping", "every": 60}}
NOON = datetime.datetime(2026, 11, 29, 12, 0, 5, tzinfo=datetime.UTC)


@pytest.fixture
def ping_schedule(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.BTW_PERIODIC_JOBS = PING_EVERY_MINUTE
    return settings


def test_the_project_schedules_the_source_checks_and_the_archive(settings):
    """Off under the tests (their workers run only what a test queues); each names a real job."""
    assert periodic_jobs() == {}
    for spec in settings.BTW_PERIODIC_JOBS.values():
        assert hasattr(import_string(spec["task"]), "enqueue"), spec


def test_a_period_enqueues_its_job_once(ping_schedule):
    assert enqueue_due(NOON) == ["ping"]
    assert enqueue_due(NOON + datetime.timedelta(seconds=30)) == []  # the same minute
    assert DBTaskResult.objects.filter(task_path="jobs.tasks.ping").count() == 1
    assert enqueue_due(NOON + datetime.timedelta(seconds=60)) == ["ping"]  # the next one
    assert DBTaskResult.objects.filter(task_path="jobs.tasks.ping").count() == 2


def test_a_job_switched_off_is_never_enqueued(ping_schedule):
    ping_schedule.BTW_PERIODIC_JOBS = {"ping": {"task": "jobs.tasks.ping", "every": 0}}
    assert enqueue_due(NOON) == []
    assert not DBTaskResult.objects.exists() and not PeriodicRun.objects.exists()


def test_old_periods_are_forgotten(ping_schedule):
    enqueue_due(NOON - datetime.timedelta(days=8))
    enqueue_due(NOON)
    assert PeriodicRun.objects.count() == 1


def test_a_worker_heartbeat_enqueues_what_is_due(ping_schedule):
    with Heartbeat("periodic-test"):
        pass
    assert DBTaskResult.objects.filter(task_path="jobs.tasks.ping").count() == 1


@pytest.mark.django_db(transaction=True)
def test_workers_racing_for_a_period_enqueue_it_once(ping_schedule):
    """Eight heartbeats at the same moment (threads, each its own connection): one job."""
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serialises writers; the race needs PostgreSQL's concurrent transactions")
    now = timezone.now()
    barrier = threading.Barrier(8)
    enqueued = []

    def beat():
        try:
            barrier.wait()
            enqueued.extend(enqueue_due(now))
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert enqueued == ["ping"]
    assert DBTaskResult.objects.filter(task_path="jobs.tasks.ping").count() == 1
