"""Bulk dumps: everything one tier may read, as JSON Lines and CSV files with a manifest.

A dump is written through the same `Resource`s as the API (rows from `visibility`, records from the
serializers), as a reader at exactly the tier's level with no personal grants. Rows are read in
keyset chunks by id and written as they come, so memory stays flat whatever the size. The manifest
names each file with its record count, size and SHA-256, and the change-stream cursor taken
*before* the first row was read: a mirror loads the dump, then reads `/api/v1/changes/?since=` from
that cursor, and whatever changed while the dump was written comes again (records are idempotent).

With `since`, a dump holds the change stream after that cursor instead (`changes.jsonl`): the same
records the API would give, tombstones included.

Dumps are written to `settings.BTW_DUMP_DIR/<tier>/<stamp>/`, in a hidden directory renamed into
place when complete, and `<tier>/latest` names the newest (replaced atomically), so a reader never
sees half a dump. The public tier's newest dump is served at `/data/`; members fetch their tier's
through the API with a token.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from membership.gating import Reader
from membership.models import Tier

from . import changes, resources

CHUNK = 1000
KEEP = 3  # dumps kept per tier (the newest and two before it)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class DumpError(Exception):
    """A dump that cannot be made as asked (unknown tier, a cursor of another tier): one readable line."""


def tier_reader(tier_slug: str) -> tuple[Tier, Reader]:
    tier = Tier.objects.filter(slug=tier_slug).first()
    if tier is None:
        known = ", ".join(Tier.objects.order_by("level").values_list("slug", flat=True))
        raise DumpError(f"Unknown tier “{tier_slug}”: choose one of {known}.")
    return tier, Reader(user=AnonymousUser(), level=tier.level, may_hold_grants=False)


def dump_root(tier_slug: str) -> Path:
    return Path(settings.BTW_DUMP_DIR) / tier_slug


# --- writing ---------------------------------------------------------------------------------------------

def csv_cell(value) -> str:
    """A value as a CSV cell: lists and objects as JSON; text that a spreadsheet would run as a
    formula (=, +, -, @ …) starts with an apostrophe instead (OWASP "CSV injection")."""
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        value = json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


class _HashingFile:
    """A text file that counts and hashes the bytes written to it."""

    def __init__(self, path: Path):
        self.path = path
        self._file = path.open("wb")
        self.sha256 = hashlib.sha256()
        self.bytes = 0
        self.records = 0

    def write(self, text: str) -> None:
        data = text.encode()
        self._file.write(data)
        self.sha256.update(data)
        self.bytes += len(data)

    def close(self) -> dict:
        self._file.close()
        return {"name": self.path.name, "records": self.records, "bytes": self.bytes,
                "sha256": self.sha256.hexdigest()}


def _rows_in_chunks(resource: resources.Resource, reader: Reader):
    """Every visible row in id order, CHUNK at a time (keyset: no OFFSET, no growing memory)."""
    last = 0
    while True:
        chunk = list(resource.rows(reader).filter(pk__gt=last).order_by("pk")[:CHUNK])
        if not chunk:
            return
        yield chunk
        last = chunk[-1].pk


def _write_resource(resource: resources.Resource, reader: Reader, directory: Path) -> list[dict]:
    jsonl = _HashingFile(directory / f"{resource.kind}.jsonl")
    table = _HashingFile(directory / f"{resource.kind}.csv")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    header = None
    for chunk in _rows_in_chunks(resource, reader):
        for record in resource.write(chunk, reader):
            jsonl.write(json.dumps(record, cls=DjangoJSONEncoder, ensure_ascii=False) + "\n")
            jsonl.records += 1
            if header is None:
                header = list(record)
                writer.writerow(header)
            writer.writerow([csv_cell(record.get(name)) for name in header])
            table.records += 1
        table.write(buffer.getvalue())
        buffer.seek(0)
        buffer.truncate()
    return [jsonl.close(), table.close()]


def _write_changes(reader: Reader, since: str, directory: Path) -> tuple[list[dict], str]:
    out = _HashingFile(directory / "changes.jsonl")
    cursor = since
    while True:
        page = changes.read(reader, cursor, changes.MAX_LIMIT)
        for record in page["results"]:
            out.write(json.dumps(record, cls=DjangoJSONEncoder, ensure_ascii=False) + "\n")
            out.records += 1
        cursor = page["next"]
        if not page["more"]:
            return [out.close()], cursor


@dataclass(frozen=True)
class Dump:
    tier: str
    directory: Path
    manifest: dict

    @property
    def files(self) -> list[dict]:
        return self.manifest["files"]


def export(tier_slug: str, *, since: str | None = None) -> Dump:
    """Write one dump of what `tier_slug` reads (or of the changes after `since`) and return it."""
    tier, reader = tier_reader(tier_slug)
    root = dump_root(tier.slug)
    root.mkdir(parents=True, exist_ok=True)
    now = timezone.now()
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    partial = root / f".{stamp}.partial"
    partial.mkdir()
    try:
        if since is None:
            cursor = changes.current_cursor(reader)  # taken before the first row: nothing is missed
            files = []
            for resource in resources.BY_KIND.values():
                files += _write_resource(resource, reader, partial)
        else:
            try:
                files, cursor = _write_changes(reader, since, partial)
            except changes.TierChanged:
                raise DumpError(f"This cursor was issued for another tier than {tier.slug}.") from None
            except ValidationError:
                raise DumpError("Not a cursor this site issued: use the cursor of a manifest or of the "
                                "change stream.") from None
        manifest = {
            "tier": tier.slug,
            "generated_at": now.isoformat(),
            "since": since,
            "cursor": cursor,
            "files": files,
        }
        (partial / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        final = root / stamp
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    _point_latest(root, stamp)
    _prune(root)
    return Dump(tier.slug, final, manifest)


def _point_latest(root: Path, stamp: str) -> None:
    pointer = root / ".latest.tmp"
    pointer.write_text(stamp + "\n")
    os.replace(pointer, root / "latest")


def _prune(root: Path) -> None:
    dumps = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for old in dumps[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)


# --- reading ---------------------------------------------------------------------------------------------

def latest(tier_slug: str) -> Dump | None:
    """The newest complete dump of a tier, or None when none was written."""
    root = dump_root(tier_slug)
    try:
        stamp = (root / "latest").read_text().strip()
        directory = root / stamp
        manifest = json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return Dump(tier_slug, directory, manifest)


def file_of(dump: Dump, name: str) -> Path | None:
    """A file the manifest lists (never another path: names are matched, not joined)."""
    if name == "manifest.json":
        return dump.directory / name
    for entry in dump.files:
        if entry["name"] == name:
            return dump.directory / entry["name"]
    return None
