"""E-mail each assigned analyst their overdue watchpoints and the profiles due for re-verification.

Run it once a day from cron or a systemd timer; running it again the same day queues nothing new
(one digest per analyst per day, `profiles.freshness.send_staff_digests`).
"""

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from profiles.freshness import DigestInputError, send_staff_digests


class Command(BaseCommand):
    help = "Send each assigned analyst today's staff digest: overdue watchpoints and profiles to re-verify."

    def add_arguments(self, parser):
        parser.add_argument(
            "--analyst",
            metavar="EMAIL",
            help="Only this analyst's digest (the e-mail address of a staff member assigned a profile).",
        )

    def handle(self, *args, analyst=None, **options):
        if analyst is not None and not analyst.strip():
            raise CommandError("--analyst needs the e-mail address of a staff member assigned a profile.")
        try:
            report = send_staff_digests(analyst_email=analyst.strip() if analyst else None)
        except (DigestInputError, ImproperlyConfigured) as refused:
            raise CommandError(str(refused)) from refused
        self.stdout.write(str(report))
