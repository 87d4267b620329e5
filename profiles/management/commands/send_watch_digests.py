"""E-mail each due member what changed on the profiles they follow. Safe to run twice.

Run it from cron or a systemd timer, e.g. hourly: members are mailed when their chosen
period (daily or weekly) has passed since their last digest.
"""

from django.core.management.base import BaseCommand
from django.utils import timezone

from profiles.watch import due_for_digest, send_digest


class Command(BaseCommand):
    help = "Send watchlist digests to members whose daily or weekly period has passed."

    def handle(self, *args, **options):
        now = timezone.now()
        sent = members = 0
        for settings_pk in list(due_for_digest(now).values_list("pk", flat=True)):
            items = send_digest(settings_pk, now=now)
            if items:
                sent += 1
                members += items
        self.stdout.write(f"Sent {sent} digest(s) with {members} update(s) in all.")
