"""Leases on running jobs: a worker that dies mid-job gives its job back.

django-tasks-db claims a job by marking its row RUNNING (committed before the job starts) and never
looks at a RUNNING row again: a worker killed mid-job (SIGKILL, out of memory, its machine gone)
would leave the job RUNNING for ever, neither finished nor retried. So every worker started by
`run_worker` beats a heartbeat row of its own from a thread, every quarter of `BTW_TASK_LEASE`, and
on each beat enqueues the periodic jobs whose period has come (`jobs.schedule`) and hands back the
jobs whose claimant has not been heard from for a whole lease: READY
again, for any worker to retry, or FAILED with the reason once `BTW_TASK_MAX_ATTEMPTS` workers have
claimed it (a job that kills every worker it runs on must not go round for ever).

A job can therefore run more than once: after a crash part-way, or when a worker was only stalled
for a lease and finishes as well. Every job's effect must be idempotent — decided under a row lock
and re-checked (as a digest is), or keyed so a second write changes nothing.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
import threading

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from .models import WorkerHeartbeat
from .schedule import enqueue_due

logger = logging.getLogger(__name__)

FORGET_WORKERS_AFTER = datetime.timedelta(days=1)


class WorkerLost(Exception):
    """Recorded on a job given up after its workers kept dying while running it."""


def lease() -> datetime.timedelta:
    return datetime.timedelta(seconds=settings.BTW_TASK_LEASE)


def requeue_abandoned(now=None) -> tuple[int, int]:
    """Put RUNNING jobs whose worker is gone back in the queue (or fail them after too many claims);
    returns (requeued, given up). Safe in any number of workers at once: each row changes only if it
    is still the same claim (status and `started_at`) that was judged abandoned."""
    now = now or timezone.now()
    alive = set(WorkerHeartbeat.objects.alive(settings.BTW_TASK_LEASE, now).values_list("worker_id", flat=True))
    # Claimed more than a lease ago: a worker that claimed just now has not beaten yet maybe, and
    # a job of a worker without heartbeats (plain `db_worker`) gets a lease's time to finish.
    suspects = DBTaskResult.objects.running().filter(started_at__lt=now - lease())
    requeued = given_up = 0
    for pk, worker_ids, started_at, task_path in suspects.values_list("pk", "worker_ids", "started_at", "task_path"):
        if worker_ids and worker_ids[-1] in alive:
            continue
        same_claim = DBTaskResult.objects.filter(pk=pk, status=TaskResultStatus.RUNNING, started_at=started_at)
        if len(worker_ids) >= settings.BTW_TASK_MAX_ATTEMPTS:
            reason = f"{len(worker_ids)} workers died while running this job; not retried again."
            given_up += same_claim.update(
                status=TaskResultStatus.FAILED,
                finished_at=now,
                exception_class_path=f"{WorkerLost.__module__}.{WorkerLost.__qualname__}",
                traceback=f"{WorkerLost.__qualname__}: {reason}",
            )
            logger.error("Job %s (%s) given up: %s", pk, task_path, reason)
        elif same_claim.update(status=TaskResultStatus.READY):
            requeued += 1
            logger.warning("Job %s (%s) back in the queue: worker %s is gone", pk, task_path, worker_ids[-1:])
    WorkerHeartbeat.objects.filter(last_beat_at__lt=now - FORGET_WORKERS_AFTER).delete()
    return requeued, given_up


class Heartbeat:
    """A worker's claim on life, from a thread of its own (the worker's thread is busy running jobs):
    beat now, then every quarter lease also hand back other workers' abandoned jobs; on exit, the
    worker's row goes (a clean stop leaves nothing to wait out)."""

    def __init__(self, worker_id: str):
        self.worker_id = worker_id
        self.interval = max(settings.BTW_TASK_LEASE / 4, 0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{worker_id}", daemon=True)

    def __enter__(self):
        self.beat()
        requeue_abandoned()
        enqueue_due()
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)
        WorkerHeartbeat.objects.filter(worker_id=self.worker_id).delete()

    def beat(self) -> None:
        now = timezone.now()
        if not WorkerHeartbeat.objects.filter(worker_id=self.worker_id).update(last_beat_at=now):
            WorkerHeartbeat.objects.create(
                worker_id=self.worker_id, hostname=socket.gethostname()[:255], pid=os.getpid(), last_beat_at=now
            )

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                close_old_connections()  # a connection the database dropped is replaced, not reused
                try:
                    self.beat()
                    requeue_abandoned()
                    enqueue_due()
                except Exception:  # the database away for a moment: the next beat tries again
                    logger.exception("Worker %s could not beat its heartbeat", self.worker_id)
        finally:
            connection.close()  # this thread's own connection
