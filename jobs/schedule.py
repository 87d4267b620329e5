"""Periodic jobs: each named job enqueued once per period, whichever workers are running.

`BTW_PERIODIC_JOBS` names them: `{"check-sources": {"task": "dotted.path.to.task", "every": 3600}}`
(seconds; 0 or absent turns one off). Every `run_worker` calls `enqueue_due()` on each heartbeat; the
period's number ("slot") is inserted as a `PeriodicRun` row under a unique constraint in the same
transaction that enqueues the job, so with any number of workers on any number of machines a period
enqueues its job exactly once — and with none running, nothing runs (cron can call the management
commands instead). A worker that starts late enqueues the current period's run only: missed periods
are not caught up, each run does what is due anyway.
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from .models import PeriodicRun

logger = logging.getLogger(__name__)

FORGET_RUNS_AFTER = datetime.timedelta(days=7)


def periodic_jobs() -> dict[str, tuple[str, float]]:
    """name → (task path, period in seconds), the ones switched on."""
    jobs = {}
    for name, spec in getattr(settings, "BTW_PERIODIC_JOBS", {}).items():
        every = float(spec.get("every") or 0)
        if every > 0:
            jobs[name] = (spec["task"], every)
    return jobs


def slot_of(now: datetime.datetime, every: float) -> int:
    return int(now.timestamp() // every)


def enqueue_due(now=None) -> list[str]:
    """Enqueue each periodic job whose current period has no run yet; returns the names enqueued."""
    now = now or timezone.now()
    enqueued = []
    for name, (path, every) in periodic_jobs().items():
        slot = slot_of(now, every)
        if PeriodicRun.objects.filter(name=name, slot=slot).exists():
            continue
        try:
            with transaction.atomic():
                PeriodicRun.objects.create(name=name, slot=slot, enqueued_at=now)
                import_string(path).enqueue()
        except IntegrityError:  # another worker took this period
            continue
        logger.info("Enqueued the periodic job %s (period %s)", name, slot)
        enqueued.append(name)
    PeriodicRun.objects.filter(enqueued_at__lt=now - FORGET_RUNS_AFTER).delete()
    return enqueued
