"""Outgoing e-mail survives SMTP failures: queued with the act that causes it, retried with backoff,
never lost, never sent twice, even with two senders at once. Against a real SMTP server started by
the test (it refuses connections, then accepts), and Django's own SMTP backend."""

import email
import socketserver
import threading
from contextlib import contextmanager
from unittest import mock

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from membership import services as membership_services
from membership.models import Application
from outbox import services as outbox
from outbox.models import OutgoingMail, OutgoingMailQuerySet

from .factories import ApplicationFactory, StaffFactory


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for Django's backend: EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        server = self.server
        with server.lock:
            server.connections += 1
            refuse = server.refuse_connections > 0
            if refuse:
                server.refuse_connections -= 1
        if refuse:
            self.reply("421 test.invalid Service not available, try later")
            return
        self.reply("220 test.invalid ESMTP")
        while line := self.rfile.readline():
            command = line.decode().strip().upper()
            if command.startswith(("EHLO", "HELO")):
                self.reply("250 test.invalid")
            elif command.startswith(("MAIL", "RCPT", "RSET", "NOOP")):
                self.reply("250 OK")
            elif command == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                with server.lock:
                    server.received.append(email.message_from_bytes(b"".join(data)))
                self.reply("250 OK queued")
            elif command == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")


class SMTPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _SMTPHandler)
        self.lock = threading.Lock()
        self.refuse_connections = 0
        self.connections = 0
        self.received: list[email.message.Message] = []

    @property
    def message_ids(self) -> list[str]:
        return [m["Message-ID"] for m in self.received]


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on a free local port, and the site configured to send through it."""
    server = SMTPServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = server.server_address
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield server
    server.shutdown()
    server.server_close()


class FlakyBackend(LocmemBackend):
    """Django's test backend, refusing the next `FlakyBackend.failures` messages."""

    failures = 0

    def send_messages(self, messages):
        if FlakyBackend.failures > 0:
            FlakyBackend.failures -= 1
            raise ConnectionRefusedError("SMTP is down")
        return super().send_messages(messages)


@pytest.fixture
def flaky_mail(settings):
    settings.EMAIL_BACKEND = "tests.test_outbox.FlakyBackend"
    yield FlakyBackend
    FlakyBackend.failures = 0


def message(n: int = 1) -> EmailMultiAlternatives:
    mail_ = EmailMultiAlternatives(f"Message {n}", f"Body {n}", to=[f"reader{n}@example.org"])
    mail_.attach_alternative(f"<p>Body {n}</p>", "text/html")
    return mail_


def backoff_passes() -> None:
    OutgoingMail.objects.waiting().update(next_attempt_at=timezone.now())


@contextmanager
def committed():
    """The caller's act, committed (durable: not inside a test's wrapping transaction)."""
    with transaction.atomic(durable=True):
        yield


# --- the rules ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_smtp_refusing_then_accepting_loses_nothing_and_sends_nothing_twice(smtp_server):
    smtp_server.refuse_connections = 6
    with committed():
        rows = [outbox.queue(message(n), kind="test") for n in range(5)]
    # each attempt right after the commit met a refusal: all five wait, none is lost
    assert smtp_server.received == [] and smtp_server.connections == 5
    assert OutgoingMail.objects.waiting().count() == 5
    call_command("send_queued_mail")  # before the backoff passed: nothing is tried
    assert smtp_server.connections == 5
    backoff_passes()
    call_command("send_queued_mail")  # refused again: the run stops at the first refusal
    assert smtp_server.received == [] and smtp_server.connections == 6
    assert sorted(OutgoingMail.objects.values_list("attempts", flat=True)) == [1, 1, 1, 1, 2]
    backoff_passes()
    call_command("send_queued_mail")  # accepted
    backoff_passes()
    call_command("send_queued_mail")
    expected = sorted(OutgoingMail.objects.get(pk=row.pk).headers["Message-ID"] for row in rows)
    assert sorted(smtp_server.message_ids) == expected  # each one, once
    assert set(OutgoingMail.objects.values_list("state", flat=True)) == {OutgoingMail.State.SENT}
    received = smtp_server.received[0]
    assert received.is_multipart() and received.get_content_type() == "multipart/alternative"


@pytest.mark.skipif(
    not connection.features.has_select_for_update_skip_locked,
    reason="SQLite's in-memory test database locks a table between threads at once, without the busy wait "
    "a file database has; the conditional UPDATE that guards SQLite is tested just below",
)
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_senders_send_every_message_exactly_once(smtp_server):
    with committed():
        for n in range(40):
            outbox.queue(message(n), kind="test", send_after_commit=False)
    start = threading.Barrier(2)
    reports, errors = [], []

    def sender():
        try:
            start.wait()
            reports.append(outbox.send_queued())
        except Exception as exc:  # noqa: BLE001 — surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(report.sent for report in reports) == 40
    assert len(smtp_server.message_ids) == 40 == len(set(smtp_server.message_ids))
    assert OutgoingMail.objects.filter(state=OutgoingMail.State.SENT).count() == 40


def test_a_message_another_sender_claimed_between_read_and_update_is_left_to_it(db, flaky_mail):
    rows = [outbox.queue(message(n), kind="test", send_after_commit=False) for n in range(3)]
    real_first = OutgoingMailQuerySet.first
    raced = []

    def first_then_a_rival_claims_it(queryset):
        row = real_first(queryset)
        if row is not None and not raced:  # a second sender's UPDATE lands between our read and ours
            raced.append(row.pk)
            OutgoingMail.objects.filter(pk=row.pk).update(state=OutgoingMail.State.SENDING, claimed_at=timezone.now())
        return row

    with mock.patch.object(OutgoingMailQuerySet, "first", first_then_a_rival_claims_it):
        report = outbox.send_queued()
    assert report.sent == 2 and raced == [rows[0].pk]
    assert sorted(m.subject for m in mail.outbox) == ["Message 1", "Message 2"]  # not the one it lost


def test_a_message_queued_in_a_rolled_back_act_is_never_sent(db, flaky_mail, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        outbox.queue(message(), kind="test")
        raise RuntimeError("the act failed")
    assert not OutgoingMail.objects.exists()
    call_command("send_queued_mail")
    assert mail.outbox == []


def test_retries_back_off_then_give_up_as_failed_for_staff_to_see(db, flaky_mail, capsys):
    flaky_mail.failures = outbox.MAX_ATTEMPTS
    row = outbox.queue(message(), kind="test")
    waits = []
    for _ in range(outbox.MAX_ATTEMPTS - 1):
        row.refresh_from_db()
        assert row.state == OutgoingMail.State.QUEUED
        waits.append(row.next_attempt_at - timezone.now())
        backoff_passes()
        call_command("send_queued_mail")
    row.refresh_from_db()
    assert row.state == OutgoingMail.State.FAILED and row.attempts == outbox.MAX_ATTEMPTS
    assert "SMTP is down" in row.last_error
    assert all(later > earlier for earlier, later in zip(waits, waits[1:], strict=False))  # exponential backoff
    assert "1 e-mail(s) failed for good" in capsys.readouterr().err
    backoff_passes()
    call_command("send_queued_mail")  # a failed message is not retried by itself
    assert mail.outbox == []



def failed_for_good(n: int = 1) -> OutgoingMail:
    row = outbox.queue(message(n), kind="test", send_after_commit=False)
    OutgoingMail.objects.filter(pk=row.pk).update(state=OutgoingMail.State.FAILED, attempts=outbox.MAX_ATTEMPTS)
    return row


def test_superuser_sends_failed_messages_again_from_the_admin_once_smtp_is_mended(db, client, flaky_mail):
    failed, waiting = failed_for_good(1), outbox.queue(message(2), kind="test", send_after_commit=False)
    client.force_login(StaffFactory(is_superuser=True))
    response = client.post(
        "/admin/outbox/outgoingmail/",
        {"action": "retry_failed", "_selected_action": [failed.pk, waiting.pk]},
        follow=True,
    )
    assert "1 of 1 sent" in response.content.decode()
    failed.refresh_from_db()
    assert failed.state == OutgoingMail.State.SENT and [m.subject for m in mail.outbox] == ["Message 1"]
    assert OutgoingMail.objects.get(pk=waiting.pk).state == OutgoingMail.State.QUEUED  # left to the schedule


def test_retrying_while_smtp_is_still_down_keeps_the_message_for_later(db, flaky_mail):
    row = failed_for_good()
    flaky_mail.failures = 1
    report = outbox.retry_failed([row.pk])
    row.refresh_from_db()
    assert (report.sent, report.retrying) == (0, 1) and row.state == OutgoingMail.State.QUEUED and row.attempts == 1


def test_staff_who_are_not_superusers_cannot_send_mail_again(db, client, flaky_mail):
    row = failed_for_good()
    client.force_login(StaffFactory(is_superuser=False))
    client.post("/admin/outbox/outgoingmail/", {"action": "retry_failed", "_selected_action": [row.pk]})
    assert OutgoingMail.objects.get(pk=row.pk).state == OutgoingMail.State.FAILED and mail.outbox == []

def test_message_id_is_fixed_at_queueing_so_a_retry_carries_the_same_one(db, flaky_mail):
    flaky_mail.failures = 1
    row = outbox.queue(message(), kind="test")
    backoff_passes()
    call_command("send_queued_mail")
    [sent] = mail.outbox
    assert sent.extra_headers["Message-ID"] == row.headers["Message-ID"]


def test_a_sender_that_crashed_mid_send_leaves_the_message_for_staff_never_resends_it(db, flaky_mail, capsys):
    row = outbox.queue(message(), kind="test", send_after_commit=False)
    OutgoingMail.objects.filter(pk=row.pk).update(
        state=OutgoingMail.State.SENDING, claimed_at=timezone.now() - outbox.STUCK_AFTER * 2, attempts=1
    )
    call_command("send_queued_mail")
    assert mail.outbox == []
    assert "left mid-send" in capsys.readouterr().err


def test_application_decision_and_its_mail_commit_together_and_survive_an_outage(
    db, flaky_mail, django_capture_on_commit_callbacks
):
    application = ApplicationFactory()
    reviewer = StaffFactory(is_superuser=True)
    flaky_mail.failures = 1
    with django_capture_on_commit_callbacks(execute=True):
        membership_services.approve_application(application=application, reviewer=reviewer)
    assert Application.objects.get(pk=application.pk).state == Application.State.APPROVED
    assert mail.outbox == [] and OutgoingMail.objects.waiting().count() == 1
    backoff_passes()
    call_command("send_queued_mail")
    [sent] = mail.outbox
    assert sent.to == [application.user.email] and "Welcome to the Leadership Alliance" in sent.subject
