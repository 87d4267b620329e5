"""Count the directory's tallies again from the profiles (profiles/tallies.py), and write each
profile's copy of its sectors again from the relation (profiles/sector_sets.py): after rows were
written without the application (a restore, a hand-made fix); bulk loads do both themselves."""

import time

from django.core.management.base import BaseCommand

from profiles import sector_sets
from profiles.cache import bump_content_version
from profiles.models import Institution
from profiles.tallies import rebuild


class Command(BaseCommand):
    help = "Recount the directory's facet tallies from the profiles and rewrite their lists of sectors."

    def handle(self, *args, **options):
        started = time.monotonic()
        rows = rebuild()
        profiles = list(Institution.objects.values_list("pk", flat=True))
        sector_sets.refresh(profiles)
        bump_content_version()  # cached facet counts were computed from the old tallies and lists
        self.stdout.write(f"{rows:,} tally rows, {len(profiles):,} lists of sectors in "
                          f"{time.monotonic() - started:.1f}s.")
