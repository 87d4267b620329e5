"""Run a background-job worker: `make worker`, as many as you like, on any machine sharing the database.

django-tasks-db's `db_worker` (its options all work here) plus a heartbeat and a lease on the jobs it
runs (`jobs.leases`): when a worker is killed mid-job, another one retries the job once the lease
has passed. SIGTERM or Ctrl-C stops a worker after its current job.
"""

from django_tasks_db.management.commands import db_worker

from jobs.leases import Heartbeat


class Command(db_worker.Command):
    help = "Run background jobs from the database queue (all queues by default), with leases on running jobs."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        # Every queue unless told otherwise; no autoreload (its child process would beat under another id).
        parser.set_defaults(queue_name="*", reload=False)

    def handle(self, *args, **options):
        with Heartbeat(options["worker_id"]):
            super().handle(*args, **options)
