"""Server time and queries of the history pages of the demo profile: its history and the compare page.

    .venv/bin/python bench/history_compare_bench.py --prepare   # once: migrate and seed the demo data
    .venv/bin/python bench/history_compare_bench.py [--repeat 20] [--edits 30]

In-process through Django's test client (view, queries, template rendering; no network), against
DATABASE_URL (default: PostgreSQL `btw_helper_history_bench` on 127.0.0.1; create it with
`createdb`). The demo profile gets `--edits` extra revisions (each rewrites a sentence of its body
and its dek) inside a transaction that is rolled back at the end, so the database is left as
seeded. Then, for the superuser and the demo analyst assigned to the profile, it prints the
queries of one render (Django's CaptureQueriesContext) and the median and p95 of `--repeat`
renders (time.perf_counter) of: the history page (50 revisions, each with its word diff) and the
compare page of the oldest against the newest revision.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/btw_helper_history_bench"


class RolledBack(Exception):
    """Raised at the end to roll the benchmark's extra revisions back."""


def add_revisions(profile, edits: int) -> None:
    """`edits` saves that each change the dek and one sentence of the body (one revision each)."""
    for n in range(edits):
        profile.dek = f"{profile.dek.split(' [rev ')[0]} [rev {n}]"
        profile.body = f"{profile.body}\n\nRevision {n} adds a sentence about capacity in phase {n}."
        profile.save()


def measure(url_of, people, repeat, show_queries):
    from django.contrib.auth import get_user_model
    from django.test import Client

    print(f"{'page':<10}{'who':<20}{'queries':>9}{'median ms':>11}{'p95 ms':>9}{'min ms':>9}")
    for page, url in url_of.items():
        for label, email in people:
            client = Client()
            client.force_login(get_user_model().objects.get(email=email))
            common.timed_get(client, url)  # warm-up: templates, the session
            _, queries = common.timed_get(client, url)
            times = sorted(common.timed_get(client, url)[0] for _ in range(repeat))
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            print(f"{page:<10}{label:<20}{len(queries):>9}{statistics.median(times):>11.1f}{p95:>9.1f}{times[0]:>9.1f}")
            if show_queries:
                for query in queries:
                    print("   ", query["sql"][:220])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--edits", type=int, default=30, help="extra revisions, rolled back afterwards")
    parser.add_argument("--prepare", action="store_true", help="migrate and seed the demo data, then exit")
    parser.add_argument("--show-queries", action="store_true", help="print the SQL of one render")
    args = parser.parse_args()
    if not common.in_process_django(DEFAULT_DATABASE_URL, prepare=args.prepare):
        return
    from django.db import transaction
    from django.urls import reverse

    from profiles.models import Institution

    try:
        with transaction.atomic():
            profile = Institution.objects.get(slug=common.DEMO_SLUG)
            add_revisions(profile, args.edits)
            records = profile.history.order_by("history_date", "history_id")
            oldest, newest = records.first(), records.last()
            print(f"{profile.name}: {records.count()} revisions (incl. {args.edits} added for the bench, rolled back)")
            measure(
                {
                    "history": reverse("admin:profiles_institution_history", args=[profile.pk]),
                    "compare": reverse("admin:profiles_institution_history_compare", args=[profile.pk])
                    + f"?a={oldest.history_id}&b={newest.history_id}",
                },
                common.DEMO_STAFF,
                args.repeat,
                args.show_queries,
            )
            raise RolledBack
    except RolledBack:
        pass


if __name__ == "__main__":
    main()
