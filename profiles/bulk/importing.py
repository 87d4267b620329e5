"""Bulk import: read a CSV or JSON file, run every row through its resource in one transaction,
and report row by row. All or nothing: a dry run, or any row with an error, rolls the whole file
back, so the report lists every row's errors and the database is as it was."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

import tablib
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import transaction

from .resources import RESOURCES, cell

FORMATS = ("csv", "json")
MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000  # the command's limit
#: The admin page's limit: a preview and its confirmation each run inside one web request (gunicorn
#: gives it 30 s; bench/import_bench.py measures ~15-30 ms a row on PostgreSQL on a loaded 2-core machine).
ADMIN_MAX_ROWS = 1_000

#: The model permission that lets a staff member import each kind (moderators hold none of them).
IMPORT_PERMISSIONS = {
    "institutions": "profiles.add_institution",
    "evidence": "profiles.add_evidenceitem",
    "relationships": "profiles.add_relationship",
}
ACTIONS = {"new": "new", "update": "changed", "skip": "unchanged", "invalid": "error", "error": "error"}


class BulkInputError(Exception):
    """The file cannot be imported at all (unreadable, wrong shape, too big): one line for a person."""


def may_import(user, kind: str | None = None) -> bool:
    """Analysts (their profiles), lead analysts and superusers import; moderators do not write text."""
    if not (user and user.is_active and user.is_staff):
        return False
    kinds = [kind] if kind else list(IMPORT_PERMISSIONS)
    return any(user.has_perm(IMPORT_PERMISSIONS[k]) for k in kinds if k in IMPORT_PERMISSIONS)


def format_of(filename: str, fmt: str | None = None) -> str:
    if not fmt:
        fmt = filename.rsplit(".", 1)[-1] if "." in filename else ""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise BulkInputError(f"Unknown file format “{fmt or filename}”: use a .csv or .json file.")
    return fmt


def read_dataset(content: bytes, fmt: str, max_rows: int = MAX_ROWS) -> tablib.Dataset:
    """The rows of a CSV file (a header line, then one row per line) or a JSON list of objects."""
    if len(content) > MAX_BYTES:
        raise BulkInputError(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB: split it into several.")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BulkInputError("The file is not UTF-8 text: save it as UTF-8 CSV or JSON.") from None
    if fmt == "csv":
        try:
            reader = csv.reader(io.StringIO(text, newline=""))
            rows = [row for row in reader if any(value.strip() for value in row)]
        except csv.Error as error:
            raise BulkInputError(f"The CSV file cannot be read: {error}.") from None
        if not rows:
            raise BulkInputError("The file is empty: a CSV file needs a header line and at least one row.")
        headers = [name.strip() for name in rows[0]]
        records = []
        for line in rows[1:]:
            if len(line) > len(headers):
                raise BulkInputError(
                    f"Row {len(records) + 1} has {len(line)} cells but the header names {len(headers)} columns."
                )
            records.append(line + [""] * (len(headers) - len(line)))
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise BulkInputError(f"The JSON file cannot be read: {error.msg} (line {error.lineno}).") from None
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise BulkInputError("The JSON file must be a list of objects, one per row.")
        headers = list(dict.fromkeys(key for item in data for key in item))
        records = [[item.get(key) for key in headers] for item in data]
    if len(set(headers)) != len(headers):
        raise BulkInputError("The header names a column twice.")
    if not records:
        raise BulkInputError("The file has no rows to import.")
    if len(records) > max_rows:
        hint = f" (or use `manage.py import_profiles`, which takes up to {MAX_ROWS:,})" if max_rows < MAX_ROWS else ""
        raise BulkInputError(
            f"The file has {len(records):,} rows; import at most {max_rows:,} at a time: split it{hint}."
        )
    return tablib.Dataset(*records, headers=headers)


@dataclass
class RowReport:
    """One row of the preview: what the import does with it, or why it cannot."""

    number: int
    action: str  # new | changed | unchanged | error
    label: str
    errors: list[tuple[str, str]] = field(default_factory=list)  # (column, message)
    changed: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    kind: str
    dry_run: bool
    rows: list[RowReport] = field(default_factory=list)
    file_errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.file_errors and all(row.action != "error" for row in self.rows)

    @property
    def saved(self) -> bool:
        """Whether anything was written: only a confirmed import without a single error."""
        return self.ok and not self.dry_run

    def count(self, action: str) -> int:
        return sum(1 for row in self.rows if row.action == action)

    @property
    def counts(self) -> dict[str, int]:
        return {action: self.count(action) for action in ("new", "changed", "unchanged", "error")}

    @property
    def error_lines(self) -> list[str]:
        """Every error as one line: "row 3, url: Enter a valid URL."."""
        lines = list(self.file_errors)
        for row in self.rows:
            lines.extend(f"row {row.number}, {column}: {message}" for column, message in row.errors)
        return lines

    @property
    def summary(self) -> str:
        counts = self.counts
        rows = len(self.rows)
        text = (
            f"{rows} row{'' if rows == 1 else 's'} of {self.kind}: {counts['new']} new, {counts['changed']} changed, "
            f"{counts['unchanged']} unchanged"
        )
        if not self.ok:
            return f"{text}, {counts['error'] or len(self.file_errors)} with errors — nothing was saved."
        return f"{text}." if self.dry_run else f"{text}: saved."


def _row_label(kind: str, values: dict) -> str:
    if kind == "institutions":
        return cell(values.get("slug")) or cell(values.get("name"))
    if kind == "evidence":
        number = cell(values.get("id"))
        title = cell(values.get("title"))
        return f"#{number} {title}" if number else title
    return " → ".join(part for part in (cell(values.get("source")), cell(values.get("kind")),
                                         cell(values.get("target"))) if part)


def _errors_of(row_result) -> list[tuple[str, str]]:
    errors = []
    if row_result.validation_error is not None:
        error = row_result.validation_error
        by_field = error.message_dict if hasattr(error, "error_dict") else {NON_FIELD_ERRORS: error.messages}
        for column, messages in by_field.items():
            column = "row" if column == NON_FIELD_ERRORS else column
            errors.extend((column, str(message)) for message in messages)
    for failure in row_result.errors:
        errors.append(("row", f"could not be saved: {failure.error}"))
    return list(dict.fromkeys(errors))  # a URL's validators may say the same thing twice


def run_import(
    *, kind: str, content: bytes, fmt: str, user, dry_run: bool, max_rows: int = MAX_ROWS
) -> ImportReport:
    """Import one file as `user`: a dry run previews, a real run saves everything or nothing."""
    if kind not in RESOURCES:
        raise BulkInputError(f"Unknown kind “{kind}”: choose one of {', '.join(RESOURCES)}.")
    if not may_import(user, kind):
        raise BulkInputError(f"You may not import {kind}: importing is for analysts and lead analysts.")
    dataset = read_dataset(content, fmt, max_rows)
    resource = RESOURCES[kind](user=user)
    missing = [column for column in resource.required_columns if column not in dataset.headers]
    if missing:
        raise BulkInputError(f"The file has no {', '.join(missing)} column: every {kind} row needs one.")
    known = {f.column_name for f in resource.get_export_fields()}
    unknown = [column for column in dataset.headers if column not in known]
    if unknown:
        raise BulkInputError(
            f"Unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: a {kind} file has "
            f"{', '.join(sorted(known))}."
        )
    report = ImportReport(kind=kind, dry_run=dry_run)
    with transaction.atomic():
        result = resource.import_data(
            dataset, dry_run=dry_run, use_transactions=True, rollback_on_validation_errors=True
        )
        report.file_errors = [str(error.error) for error in result.base_errors]
        for number, (row_result, values) in enumerate(zip(result.rows, dataset.dict, strict=False), start=1):
            report.rows.append(
                RowReport(
                    number=number,
                    action=ACTIONS.get(row_result.import_type, "error"),
                    label=_row_label(kind, values),
                    errors=_errors_of(row_result),
                    changed=resource.changed.get(number, []),
                )
            )
        if dry_run or not report.ok:
            transaction.set_rollback(True)
    return report
