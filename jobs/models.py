"""Which workers are alive: each renews its row while it runs (`jobs.leases.Heartbeat`)."""

from __future__ import annotations

import datetime

from django.db import models
from django.utils import timezone


class WorkerHeartbeatQuerySet(models.QuerySet):
    def alive(self, lease_seconds: float, now=None):
        """Workers heard from within one lease: their running jobs are theirs."""
        return self.filter(last_beat_at__gte=(now or timezone.now()) - datetime.timedelta(seconds=lease_seconds))


class WorkerHeartbeat(models.Model):
    """One running worker (`manage.py run_worker`): who and where it is and when it last said so.

    A job row records the ids of the workers that claimed it (django-tasks-db's `worker_ids`); its
    last claimant's heartbeat is what keeps a RUNNING job from being handed to another worker.
    """

    worker_id = models.CharField(max_length=64, primary_key=True)
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_beat_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = WorkerHeartbeatQuerySet.as_manager()

    class Meta:
        verbose_name = "worker heartbeat"

    def __str__(self):
        return f"worker {self.worker_id} on {self.hostname or '?'} (pid {self.pid}), last heard {self.last_beat_at}"


class PeriodicRun(models.Model):
    """One period's run of a periodic job (`jobs.schedule`): the row's unique (name, slot) is what lets
    exactly one of any number of workers enqueue it — the first to insert it — in the same transaction
    as the job itself."""

    name = models.CharField(max_length=64)
    slot = models.BigIntegerField(help_text="The period's number: seconds since the epoch // the period.")
    enqueued_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = "periodic run"
        constraints = [models.UniqueConstraint(fields=["name", "slot"], name="periodic_run_once_per_slot")]

    def __str__(self):
        return f"{self.name} #{self.slot}"
