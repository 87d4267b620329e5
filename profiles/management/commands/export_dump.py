"""Write a bulk dump of what one tier reads: JSON Lines and CSV per resource, and a manifest.

Run it from cron (hourly, say) for the public tier and each members' tier; mirrors then follow the
change stream from the manifest's cursor. `--since CURSOR` writes the changes after a cursor instead.
"""

from django.core.management.base import BaseCommand, CommandError

from profiles.api.dumps import DumpError, export


class Command(BaseCommand):
    help = "Write a bulk dump (JSON Lines, CSV, manifest) of what a tier may read."

    def add_arguments(self, parser):
        parser.add_argument("--tier", required=True, help="public, strategic-circle or leadership-alliance")
        parser.add_argument("--since", metavar="CURSOR", help="Only the changes after this change-stream cursor.")

    def handle(self, *args, tier, since=None, **options):
        if since is not None and not since.strip():
            raise CommandError("--since needs a cursor (from a manifest or the change stream).")
        try:
            dump = export(tier.strip(), since=since)
        except DumpError as refused:
            raise CommandError(str(refused)) from refused
        records = sum(f["records"] for f in dump.files if f["name"].endswith((".jsonl",)))
        self.stdout.write(f"Dump of {dump.tier} written to {dump.directory}: {records} records in "
                          f"{len(dump.files)} files; continue with since={dump.manifest['cursor']}")
