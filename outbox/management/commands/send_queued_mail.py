"""Send queued e-mail that is due: what failed before (after its backoff) or was never tried.

Run it every minute from cron or a systemd timer (`* * * * * … manage.py send_queued_mail`). Safe to
run twice or overlapping: each message is claimed by one sender and sent at most once.
"""

from django.core.management.base import BaseCommand

from outbox.models import OutgoingMail
from outbox.services import STUCK_AFTER, send_queued


class Command(BaseCommand):
    help = "Send queued e-mail that is due, retrying failures with backoff; at most once per message."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=500, help="Try at most this many messages (default 500).")

    def handle(self, *args, limit, **options):
        report = send_queued(limit=limit)
        waiting = OutgoingMail.objects.waiting().count()
        self.stdout.write(f"E-mail: {report}; {waiting} queued for later.")
        failed = OutgoingMail.objects.failed().count()
        stuck = OutgoingMail.objects.stuck(STUCK_AFTER).count()
        if failed or stuck:
            self.stderr.write(
                f"{failed} e-mail(s) failed for good and {stuck} were left mid-send by a crashed sender "
                "(maybe delivered); see Outgoing e-mail in the admin."
            )
