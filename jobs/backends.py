"""Where jobs run. Production uses django-tasks-db's `DatabaseBackend` (a job is a row written in the
enqueuing transaction); `make run` and the tests use the immediate backend below."""

from __future__ import annotations

from functools import partial

from django.db import connection, transaction
from django_tasks.backends.immediate import ImmediateBackend


class ImmediateOnCommitBackend(ImmediateBackend):
    """Run each job in this process, but only once the transaction that enqueued it has committed.

    A job enqueued inside an approval must see the approval committed, and must not run at all when
    the approval rolls back — as with the database backend, where the job is a row of that same
    transaction. (django-tasks dropped its ENQUEUE_ON_COMMIT option; this is it, for this backend.)
    With no transaction open the job runs at once and its result is final when `enqueue` returns.
    """

    def _execute_task(self, task_result) -> None:
        after_commit(partial(ImmediateBackend._execute_task, self, task_result))


def after_commit(func) -> None:
    """`transaction.on_commit`, counting only transactions code opened: the ones Django's TestCase wraps
    every test in never commit and do not count (as for `atomic(durable=True)`), so a test sees the
    job run when a deployment would."""
    if any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks):
        transaction.on_commit(func)
    else:
        func()
