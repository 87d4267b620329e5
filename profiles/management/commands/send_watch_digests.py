"""E-mail each due member what changed on the profiles they follow. Safe to run twice.

Run it from cron or a systemd timer, e.g. hourly: members are mailed when their chosen
period (daily or weekly) has passed since their last digest. The work is fanned out on the
job queue, one job per batch of members (`BTW_DIGEST_BATCH_SIZE`): with the immediate backend
(`make run`, tests) the digests are sent before the command returns; with the database backend
the workers (`make worker`) send them.
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django_tasks import TaskResultStatus

from profiles.watch import fan_out_digests


class Command(BaseCommand):
    help = "Send watchlist digests to members whose daily or weekly period has passed."

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=None, help="Members per job (default: BTW_DIGEST_BATCH_SIZE)."
        )

    def handle(self, *args, batch_size=None, **options):
        if batch_size is not None and batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        jobs = fan_out_digests(timezone.now(), batch_size=batch_size)
        done = [job for job in jobs if job.status == TaskResultStatus.SUCCESSFUL]
        failed = [job for job in jobs if job.status == TaskResultStatus.FAILED]
        waiting = len(jobs) - len(done) - len(failed)
        if done or not jobs:
            digests = sum(job.return_value["digests"] for job in done)
            updates = sum(job.return_value["updates"] for job in done)
            self.stdout.write(f"Sent {digests} digest(s) with {updates} update(s) in all.")
        if waiting:
            self.stdout.write(f"Queued {waiting} digest job(s) for the workers.")
        if failed:
            errors = "; ".join(job.errors[-1].traceback.strip().splitlines()[-1] for job in failed)
            raise CommandError(f"{len(failed)} digest job(s) failed: {errors}")
