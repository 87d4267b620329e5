"""Queue e-mail with the act that causes it; send what is due, at most once each, retrying failures.

`queue()` writes the message in the caller's transaction: if the act rolls back, no mail; if it
commits, the mail is there for a sender even when SMTP is down. Right after the commit one attempt
is made at once (the common case is immediate); `send_queued_mail` (cron or a systemd timer) sends
whatever is left, with exponential backoff between attempts.

At most once: a sender claims a row with a conditional UPDATE (`queued` → `sending`, after a
`select_for_update(skip_locked=True)` on databases that have it, so concurrent senders do not even
queue behind each other), commits the claim, talks to SMTP, and marks the row `sent` the moment
the server accepted it. A sender that dies between the two leaves the row `sending`: maybe
delivered, so it is shown to staff (`OutgoingMail.objects.stuck()`), never re-sent by itself.
"""

from __future__ import annotations

import datetime
import logging
import smtplib
from dataclasses import dataclass
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import F
from django.utils import timezone

import siteurl

from .models import OutgoingMail

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
FIRST_RETRY = datetime.timedelta(minutes=1)
LONGEST_WAIT = datetime.timedelta(hours=6)
SMTP_TIMEOUT = 20  # seconds; a hung SMTP server must not hold a request or a cron run forever
STUCK_AFTER = datetime.timedelta(minutes=15)

# The server (or the way to it) is down: later messages in the same run would fail the same way.
CONNECTION_ERRORS = (smtplib.SMTPConnectError, smtplib.SMTPServerDisconnected, smtplib.SMTPHeloError, OSError)


@dataclass
class Report:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    def __str__(self):
        return f"sent {self.sent}, will retry {self.retrying}, gave up on {self.failed}"


def retry_delay(attempts: int) -> datetime.timedelta:
    """Wait before attempt `attempts + 1`: 1, 2, 4, … minutes, at most six hours."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LONGEST_WAIT)


def queue(message: EmailMessage, *, kind: str, send_after_commit: bool = True) -> OutgoingMail:
    """Write `message` to the outbox inside the caller's transaction.

    With `send_after_commit`, one attempt is made as soon as that transaction commits (at once when
    the caller has none open). A caller that commits its own transaction and sends right after
    (`send_queued(ids=…)`) passes False.
    """
    headers = {str(k): str(v) for k, v in message.extra_headers.items()}
    if not any(name.lower() == "message-id" for name in headers):
        # Fixed now, so a retry after a lost reply carries the same id and the receiver can drop the copy.
        headers["Message-ID"] = make_msgid(domain=siteurl.domain().split(":")[0] or None)
    html = next((content for content, mimetype in getattr(message, "alternatives", []) if mimetype == "text/html"), "")
    row = OutgoingMail(
        kind=kind[:100],
        from_email=message.from_email or settings.DEFAULT_FROM_EMAIL,
        to=list(message.to),
        subject=message.subject,
        body=message.body,
        html=html,
        headers=headers,
    )
    row.full_clean(validate_constraints=False)  # the database holds the constraint
    row.save()
    if send_after_commit:
        pk = row.pk
        _after_commit(lambda: send_queued(ids=[pk]))
    return row


def _after_commit(func) -> None:
    """`transaction.on_commit`, counting only transactions code opened: the ones Django's TestCase
    wraps every test in never commit, and (as for `atomic(durable=True)`) they do not count, so the
    test client sees what a deployment does."""
    if any(not getattr(block, "_from_testcase", False) for block in db_connection.atomic_blocks):
        transaction.on_commit(func, robust=True)
    else:
        func()


def send_queued(*, ids=None, limit: int | None = None, now=None) -> Report:
    """Send due messages (only `ids`, if given) one by one until none is left or `limit` were tried."""
    report = Report()
    mail_connection = None
    tried = 0
    try:
        while (limit is None or tried < limit) and (ids is None or tried < len(ids)):
            row = _claim_next(ids=ids, now=now or timezone.now())
            if row is None:
                break
            tried += 1
            if mail_connection is None:
                mail_connection = get_connection(fail_silently=False, timeout=SMTP_TIMEOUT)
            try:
                sent = row.as_message(mail_connection).send()
                if not sent:
                    raise smtplib.SMTPException("the mail backend accepted no message")
            except Exception as exc:  # noqa: BLE001 — every failure is recorded on the row and retried
                _give_back(row, exc, report)
                if isinstance(exc, CONNECTION_ERRORS):
                    _close(mail_connection)
                    break
            else:
                OutgoingMail.objects.filter(pk=row.pk, state=OutgoingMail.State.SENDING).update(
                    state=OutgoingMail.State.SENT, sent_at=timezone.now(), last_error=""
                )
                report.sent += 1
    finally:
        _close(mail_connection)
    return report


def retry_failed(ids) -> Report:
    """Give messages that failed for good another round of attempts, from now, and try them at once:
    what an operator does once the mail server is mended. Rows in any other state are left alone
    (a queued one will be tried anyway; a sent one must never go twice)."""
    failed = list(
        OutgoingMail.objects.filter(pk__in=ids, state=OutgoingMail.State.FAILED).values_list("pk", flat=True)
    )
    OutgoingMail.objects.filter(pk__in=failed, state=OutgoingMail.State.FAILED).update(
        state=OutgoingMail.State.QUEUED, attempts=0, next_attempt_at=timezone.now()
    )
    return send_queued(ids=failed) if failed else Report()


def _claim_next(*, ids, now) -> OutgoingMail | None:
    """Take the oldest due message for this sender alone, and commit that before any SMTP talk."""
    candidates = OutgoingMail.objects.due(now)
    if ids is not None:
        candidates = candidates.filter(pk__in=ids)
    if db_connection.features.has_select_for_update_skip_locked:
        candidates = candidates.select_for_update(skip_locked=True)
    while True:
        with transaction.atomic():
            row = candidates.first()
            if row is None:
                return None
            claimed_at = timezone.now()
            claimed = OutgoingMail.objects.filter(pk=row.pk, state=OutgoingMail.State.QUEUED).update(
                state=OutgoingMail.State.SENDING, attempts=F("attempts") + 1, claimed_at=claimed_at
            )
            if claimed:
                row.state, row.attempts, row.claimed_at = OutgoingMail.State.SENDING, row.attempts + 1, claimed_at
                return row
        # another sender took it between our read and our update (SQLite): try the next one


def _give_back(row: OutgoingMail, exc: Exception, report: Report) -> None:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    if row.attempts >= MAX_ATTEMPTS:
        state, report.failed = OutgoingMail.State.FAILED, report.failed + 1
        logger.error("Gave up on e-mail #%s (%s) after %s attempts: %s", row.pk, row.kind, row.attempts, error)
    else:
        state, report.retrying = OutgoingMail.State.QUEUED, report.retrying + 1
        logger.warning("E-mail #%s (%s) not sent (attempt %s), will retry: %s", row.pk, row.kind, row.attempts, error)
    OutgoingMail.objects.filter(pk=row.pk, state=OutgoingMail.State.SENDING).update(
        state=state, next_attempt_at=timezone.now() + retry_delay(row.attempts), last_error=error
    )


def _close(mail_connection) -> None:
    if mail_connection is not None:
        try:
            mail_connection.close()
        except Exception:  # noqa: BLE001 — closing a broken connection may fail too; nothing to keep
            logger.debug("Closing the mail connection failed", exc_info=True)
