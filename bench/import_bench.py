"""Benchmark of the bulk import: 1,000 evidence rows, as the admin's preview and confirmation run them.

    .venv/bin/python bench/import_bench.py [--rows 1000] [--database postgres://…/btw_import_bench]

It migrates the database it is given (creating a PostgreSQL database that does not exist yet),
makes a lead analyst and one profile (slug `import-bench`, dropped with its evidence at each
start), writes a CSV of `--rows` new evidence items and imports it through `profiles.bulk`:

- a dry run (the preview), then the real import (the confirmation, committed): wall time and
  queries, in all and per row, with and without the savepoints (one per row, one per service);
- the peak Python memory of a dry run (tracemalloc, in a pass of its own: tracing slows it down).

Queries per row must not grow with the file: every reference is looked up once per file. Each
saved row also moves the content version (profiles.cache): one Redis command, or about five queries
on the database cache table when REDIS_URL is empty.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/btw_import_bench"
HEADER = ["institution", "url", "publisher", "title", "source_date", "claim", "quote", "kind", "required_tier"]


def ensure_postgres_database(url: str) -> None:
    if not url.startswith("postgres"):
        return
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def csv_of(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for n in range(rows):
        writer.writerow([
            "import-bench", f"https://news.example.org/bench/{n}", "Example Wire", f"Bench story {n}",
            "2026-01-15", "The operator opened a second landing station.", "", "news",
            "strategic-circle" if n % 5 == 0 else "",
        ])
    return out.getvalue().encode()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--database", default=os.environ.get("DATABASE_URL", DEFAULT_DATABASE))
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = args.database
    for key, value in common.bench_env().items():
        if key != "DATABASE_URL":
            os.environ.setdefault(key, value)  # REDIS_URL="" measures the database cache table instead
    ensure_postgres_database(args.database)
    common.django_setup()

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection

    from profiles.bulk.importing import run_import
    from profiles.models import EvidenceItem, Institution

    call_command("migrate", verbosity=0)
    Institution.objects.filter(slug="import-bench").delete()
    Institution.objects.create(slug="import-bench", name="Import bench", dek="A profile for the import benchmark.")
    lead, _ = get_user_model().objects.get_or_create(
        username="import-bench-lead", defaults={"is_staff": True, "email": "import-bench@example.org"}
    )
    lead.groups.add(*Group.objects.filter(name__in=["Analysts", "Lead analysts"]))
    lead = get_user_model().objects.get(pk=lead.pk)  # fresh permission caches
    content = csv_of(args.rows)

    def timed(dry_run: bool):
        sql: list[str] = []

        def count(execute, statement, params, many, context):
            sql.append(statement.split(None, 1)[0].upper())
            return execute(statement, params, many, context)

        with connection.execute_wrapper(count):
            started = time.perf_counter()
            report = run_import(kind="evidence", content=content, fmt="csv", user=lead, dry_run=dry_run)
            elapsed = time.perf_counter() - started
        assert report.ok, report.error_lines[:5]
        work = [verb for verb in sql if verb not in ("SAVEPOINT", "RELEASE", "ROLLBACK")]
        return elapsed, len(sql), len(work)

    cache = "Redis" if os.environ.get("REDIS_URL") else "database cache table"
    print(f"{args.rows} evidence rows, {connection.vendor}, {cache}, {len(content) / 1024:.0f} KB of CSV")
    for label, dry_run in (("dry run (preview)", True), ("import (confirmed)", False)):
        elapsed, total, work = timed(dry_run)
        print(
            f"  {label:<20} {elapsed:6.2f} s  {elapsed / args.rows * 1000:5.2f} ms/row  "
            f"{total} queries ({total / args.rows:.1f}/row; {work / args.rows:.1f}/row without savepoints)"
        )
    saved = EvidenceItem.objects.filter(institution__slug="import-bench", review_state="submitted").count()
    print(f"  saved: {saved} evidence items, all submitted for review")

    Institution.objects.filter(slug="import-bench").delete()
    Institution.objects.create(slug="import-bench", name="Import bench", dek="A profile for the import benchmark.")
    tracemalloc.start()
    run_import(kind="evidence", content=content, fmt="csv", user=lead, dry_run=True)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  peak Python memory of a dry run (tracemalloc): {peak / 1024 / 1024:.1f} MB")
    Institution.objects.filter(slug="import-bench").delete()


if __name__ == "__main__":
    main()
