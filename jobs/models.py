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
