"""Watchlist digests fanned out on the queue and sent by real worker processes: one digest per member per
period with two workers taking overlapping batches, and with a worker killed in the middle of a batch;
what a member's tier does not open reaches no mail a worker sends.

PostgreSQL only, like tests/test_queue_workers.py (whose worker helpers these use). With the immediate
backend the command behaves as before: tests/test_watchlists.py and tests/test_digest_queue.py.
"""

import email
from collections import Counter

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from membership.models import Membership, Tier
from outbox.models import OutgoingMail
from profiles.models import DigestDelivery, WatchSettings

from . import test_queue_workers
from .factories import InstitutionFactory, tier
from .test_queue_workers import eventually
from .test_watchlists import follow, fresh_evidence

pytestmark = pytest.mark.postgres

start_worker = test_queue_workers.start_worker  # the fixture: real workers on the test database


def sent_messages(tmp_path) -> list:
    """The messages the workers' mail backend (filemail: one file per connection) accepted."""
    found = []
    for path in (tmp_path / "mail").glob("*.log"):
        for chunk in path.read_text().split("-" * 79):
            if chunk.strip():
                found.append(email.message_from_string(chunk.strip()))
    return found


def delivered(tmp_path) -> Counter:
    return Counter(message["To"] for message in sent_messages(tmp_path))


def decoded(message) -> str:
    """Every text part of a message, transfer encoding undone."""
    return "".join(
        part.get_payload(decode=True).decode() for part in message.walk() if part.get_content_maintype() == "text"
    )


def queue_drained() -> bool:
    return not DBTaskResult.objects.filter(status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING]).exists()


def members_following_fresh_news(member_factory, count):
    inst = InstitutionFactory()
    users = [member_factory() for _ in range(count)]
    for user in users:
        follow(user, inst)
    fresh_evidence(inst, title="Subsea cable landing approved")
    return users


def assert_one_digest_each(users, tmp_path):
    assert Counter(DigestDelivery.objects.values_list("user_id", flat=True)) == {u.pk: 1 for u in users}
    for user in users:
        [message] = OutgoingMail.objects.filter(to=[user.email])
        assert message.state == OutgoingMail.State.SENT
    assert delivered(tmp_path) == {u.email: 1 for u in users}


def test_two_workers_send_each_member_one_digest_even_from_overlapping_runs(start_worker, member_factory, tmp_path):
    users = members_following_fresh_news(member_factory, 10)
    workers = [start_worker("a"), start_worker("b")]
    call_command("send_watch_digests", "--batch-size", "3", stdout=open("/dev/null", "w"))  # noqa: SIM115
    call_command("send_watch_digests", "--batch-size", "3", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert DBTaskResult.objects.count() >= 4  # the second run queued what was still due: overlapping batches

    eventually(queue_drained, message="every digest job to finish")
    assert not DBTaskResult.objects.filter(status=TaskResultStatus.FAILED).exists()
    assert_one_digest_each(users, tmp_path)
    ran_on = {row.worker_ids[-1] for row in DBTaskResult.objects.all()}
    assert ran_on <= {w.worker_id for w in workers}


def _waiting_on_a_row_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def test_worker_killed_mid_batch_leaves_every_member_one_digest(start_worker, member_factory, tmp_path, capsys):
    users = members_following_fresh_news(member_factory, 5)
    call_command("send_watch_digests", "--batch-size", "5")
    assert "Queued 1 digest job(s)" in capsys.readouterr().out
    [job] = DBTaskResult.objects.all()
    batch = job.args_kwargs["args"][0]

    # Hold the third member's row lock: the worker sends two digests, then waits there, mid-batch.
    with transaction.atomic():
        WatchSettings.objects.select_for_update().get(pk=batch[2])
        first = start_worker("first")
        eventually(lambda: DigestDelivery.objects.count() == 2 and _waiting_on_a_row_lock(),
                   message="the worker to send two digests and wait on the third")
        first.kill()
    second = start_worker("second")

    eventually(lambda: DBTaskResult.objects.filter(pk=job.pk, status=TaskResultStatus.SUCCESSFUL).exists(),
               message="the batch to be retried and finish on the second worker")
    job.refresh_from_db()
    assert job.worker_ids == [first.worker_id, second.worker_id]
    assert job.return_value["digests"] == 3  # the retry skipped the two members already served
    assert_one_digest_each(users, tmp_path)
    call_command("send_watch_digests")  # nobody is due again this period
    assert DigestDelivery.objects.count() == 5


def test_digest_sent_by_a_worker_holds_no_text_above_the_members_tier(start_worker, member_factory, tmp_path):
    alliance, lapsed = member_factory(Tier.LEADERSHIP_ALLIANCE_SLUG), member_factory(Tier.LEADERSHIP_ALLIANCE_SLUG)
    circle = member_factory()
    inst = InstitutionFactory()
    for user in (alliance, lapsed, circle):
        follow(user, inst)
    fresh_evidence(inst, title="public-source-title")
    fresh_evidence(inst, title="SECRET-alliance-evidence-title", required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG))
    Membership.objects.filter(user=lapsed).update(status=Membership.Status.LAPSED)
    start_worker()
    call_command("send_watch_digests", stdout=open("/dev/null", "w"))  # noqa: SIM115

    eventually(queue_drained, message="the digest job to finish")
    text = dict.fromkeys((alliance.email, lapsed.email, circle.email), "")
    for message in sent_messages(tmp_path):
        text[message["To"]] += decoded(message)
    assert all("public-source-title" in body for body in text.values())
    assert "SECRET-alliance-evidence-title" in text[alliance.email]
    assert "SECRET-alliance-evidence-title" not in text[lapsed.email] + text[circle.email]
