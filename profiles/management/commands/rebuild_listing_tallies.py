"""Count the directory's tallies again from the profiles (profiles/tallies.py): after rows were
written without the application (a restore, a hand-made fix); bulk loads do it themselves."""

import time

from django.core.management.base import BaseCommand

from profiles.cache import bump_content_version
from profiles.tallies import rebuild


class Command(BaseCommand):
    help = "Recount the directory's facet tallies from the profiles."

    def handle(self, *args, **options):
        started = time.monotonic()
        rows = rebuild()
        bump_content_version()  # cached facet counts were computed from the old tallies
        self.stdout.write(f"{rows:,} tally rows in {time.monotonic() - started:.1f}s.")
