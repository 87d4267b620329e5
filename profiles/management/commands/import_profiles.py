"""Import institutions, evidence or relationships from a CSV or JSON file, as a named staff member.

The same import as the admin's "Import and export" page (`profiles.bulk`): the same permissions
(`--as` an analyst imports into their assigned profiles only; moderators import nothing), one
transaction (any row with an error and nothing is saved), evidence and relationships submitted
for review. `--dry-run` reports what would happen and saves nothing.

    python manage.py import_profiles evidence.csv --kind evidence --as lead@example.org --dry-run

Exit status: 0 when the file was imported (or would be, with --dry-run); 1 with one readable
line for a file that cannot be read, and the per-row errors for a file that cannot be imported.
"""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from profiles.bulk.importing import FORMATS, BulkInputError, format_of, read_dataset, run_import
from profiles.bulk.resources import RESOURCES

#: A column only one kind has, to tell the kind of a file when --kind is not given.
KIND_BY_COLUMN = {"slug": "institutions", "institution": "evidence", "source": "relationships"}


class Command(BaseCommand):
    help = "Import institutions, evidence or relationships from a CSV or JSON file (all rows or none)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="a .csv or .json file")
        parser.add_argument("--kind", choices=sorted(RESOURCES), help="what the file holds (default: from its columns)")
        parser.add_argument("--format", choices=FORMATS, help="csv or json (default: from the file name)")
        parser.add_argument("--dry-run", action="store_true", help="report what would happen; save nothing")
        parser.add_argument("--as", dest="username", help="the staff member importing (username or e-mail)")

    def handle(self, *args, **options):
        try:
            report = self.run(options)
        except BulkInputError as error:
            raise CommandError(str(error)) from None
        for line in report.error_lines:
            self.stderr.write(line)
        if not report.ok:
            raise CommandError(report.summary)
        self.stdout.write(("Dry run: " if report.dry_run else "") + report.summary)

    def run(self, options):
        path = Path(options["file"])
        if not path.is_file():
            raise BulkInputError(f"No such file: {path}")
        fmt = format_of(path.name, options["format"])
        user = self.importer(options["username"])
        content = path.read_bytes()
        kind = options["kind"] or self.kind_of(content, fmt)
        return run_import(kind=kind, content=content, fmt=fmt, user=user, dry_run=options["dry_run"])

    def importer(self, username):
        if not username:
            raise BulkInputError("Say who imports: --as <username or e-mail of a staff member>.")
        user = get_user_model().objects.filter(Q(username=username) | Q(email__iexact=username)).first()
        if user is None or not (user.is_active and user.is_staff):
            raise BulkInputError(f"No active staff member “{username}”.")
        return user

    def kind_of(self, content, fmt):
        headers = read_dataset(content, fmt).headers
        kinds = {KIND_BY_COLUMN[column] for column in headers if column in KIND_BY_COLUMN}
        if len(kinds) != 1:
            raise BulkInputError("Cannot tell what the file holds from its columns: give --kind.")
        return kinds.pop()
