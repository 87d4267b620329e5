"""Bulk export: what a staff member works on, as CSV or JSON in the columns the import reads back.

The scope is `permissions.institutions_for_staff`: analysts export their assigned profiles, lead
analysts and moderators every profile they see in the admin. No member briefing is ever exported
(briefings are not an export kind); members-only evidence is staff material and goes to staff only.
"""

from __future__ import annotations

import json

from import_export.formats.base_formats import CSV

from .importing import FORMATS, BulkInputError
from .resources import RESOURCES

CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


def export_file(*, kind: str, fmt: str, user) -> bytes:
    """The file's bytes: CSV with a header line, or a JSON list of objects (one per row)."""
    if kind not in RESOURCES:
        raise BulkInputError(f"Unknown kind “{kind}”: choose one of {', '.join(RESOURCES)}.")
    if fmt not in FORMATS:
        raise BulkInputError(f"Unknown format “{fmt}”: choose csv or json.")
    if not (user and user.is_active and user.is_staff):
        raise BulkInputError("Exports are for staff.")
    resource = RESOURCES[kind](user=user)
    dataset = resource.export(queryset=resource.export_queryset())
    if fmt == "csv":
        return CSV().export_data(dataset).encode("utf-8")
    return json.dumps(dataset.dict, ensure_ascii=False, indent=1).encode("utf-8")


def filename_for(kind: str, fmt: str, today) -> str:
    return f"btw-{kind}-{today:%Y-%m-%d}.{fmt}"
