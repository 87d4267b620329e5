"""send_watch_digests fans out one job per batch of due members. With the immediate backend the digests
are sent before the command returns, as before the queue; with the database backend they wait for a
worker. Real worker processes: tests/test_digest_queue_workers.py."""

from unittest import mock

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from profiles import watch
from profiles.models import DigestDelivery, WatchSettings

from . import test_queue
from .test_queue import DATABASE_QUEUE
from .test_watchlists import follow, fresh_evidence

signals_restored = test_queue.signals_restored  # the fixture


def members_following_fresh_news(member_factory, count):
    from .factories import InstitutionFactory

    inst = InstitutionFactory()
    users = [member_factory() for _ in range(count)]
    for user in users:
        follow(user, inst)
    fresh_evidence(inst, title="Subsea cable landing approved")
    return users


@pytest.mark.django_db
def test_immediate_queue_sends_every_digest_before_the_command_returns(member_factory, capsys):
    users = members_following_fresh_news(member_factory, 5)
    call_command("send_watch_digests", "--batch-size", "2")
    assert "Sent 5 digest(s)" in capsys.readouterr().out
    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in users)
    assert not DBTaskResult.objects.exists()  # nothing left for a worker


@pytest.mark.django_db
def test_database_queue_gets_one_job_per_batch_of_due_members(member_factory, settings, capsys):
    settings.TASKS = DATABASE_QUEUE
    members_following_fresh_news(member_factory, 5)
    due = list(watch.due_for_digest().values_list("pk", flat=True))
    call_command("send_watch_digests", "--batch-size", "2")
    assert "Queued 3 digest job(s) for the workers." in capsys.readouterr().out
    jobs = DBTaskResult.objects.order_by("enqueued_at", "pk")
    batches = sorted(job.args_kwargs["args"][0] for job in jobs)
    assert batches == sorted([due[:2], due[2:4], due[4:]])
    assert {job.task_path for job in jobs} == {"profiles.watch.send_digest_batch"}
    assert mail.outbox == [] and not DigestDelivery.objects.exists()  # the workers send them


@pytest.mark.django_db(transaction=True)
def test_worker_sends_the_queued_digests_once(member_factory, settings, signals_restored):
    settings.TASKS = DATABASE_QUEUE
    users = members_following_fresh_news(member_factory, 3)
    call_command("send_watch_digests", "--batch-size", "2", stdout=open("/dev/null", "w"))  # noqa: SIM115
    call_command("send_watch_digests", "--batch-size", "2", stdout=open("/dev/null", "w"))  # noqa: SIM115 — overlap
    assert DBTaskResult.objects.count() == 4
    call_command("run_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)
    assert set(DBTaskResult.objects.values_list("status", flat=True)) == {TaskResultStatus.SUCCESSFUL}
    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in users)  # one each
    assert DigestDelivery.objects.count() == 3


@pytest.mark.django_db
def test_one_failing_digest_fails_its_job_but_not_the_others(member_factory):
    users = members_following_fresh_news(member_factory, 3)
    broken = WatchSettings.objects.get(user=users[1]).pk
    real = watch.send_digest

    def send_digest(settings_pk, **kwargs):
        if settings_pk == broken:
            raise RuntimeError("template exploded")
        return real(settings_pk, **kwargs)

    with mock.patch.object(watch, "send_digest", send_digest), pytest.raises(CommandError, match="1 of 3 digests"):
        call_command("send_watch_digests")
    assert sorted(m.to[0] for m in mail.outbox) == sorted([users[0].email, users[2].email])
    call_command("send_watch_digests")  # the member left out is still due: the next run serves them
    assert sorted(m.to[0] for m in mail.outbox) == sorted(u.email for u in users)


@pytest.mark.django_db
def test_batch_size_below_one_is_refused():
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        call_command("send_watch_digests", "--batch-size", "0")
