"""Server time and queries of the admin's profile change form: the demo profile with all its inlines.

    .venv/bin/python bench/change_form_bench.py --prepare   # once: migrate and seed the demo data
    .venv/bin/python bench/change_form_bench.py [--repeat 20]

In-process through Django's test client (view, queries, template rendering; no network), against
DATABASE_URL (default: PostgreSQL `btw_helper_editor_bench` on 127.0.0.1; create it with
`createdb`). For the superuser and for the demo analyst assigned to the profile, it prints the
queries of one render (Django's CaptureQueriesContext) and the median and p95 of `--repeat`
renders (time.perf_counter), after one warm-up render.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/btw_helper_editor_bench"

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--prepare", action="store_true", help="migrate and seed the demo data, then exit")
    parser.add_argument("--show-queries", action="store_true", help="print the SQL of one render")
    args = parser.parse_args()
    if not common.in_process_django(DEFAULT_DATABASE_URL, prepare=args.prepare):
        return
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from profiles.models import Institution

    profile = Institution.objects.get(slug=common.DEMO_SLUG)
    url = reverse("admin:profiles_institution_change", args=[profile.pk])
    counts = {name: getattr(profile, name).count() for name in (
        "evidence", "relationships", "watchpoints", "timeline", "faqs", "related_links", "briefings")
        if hasattr(profile, name)}
    print(f"{url} — {profile.name}; inline rows: {counts}")
    print(f"{'who':<20}{'queries':>9}{'median ms':>11}{'p95 ms':>9}{'min ms':>9}")
    for label, email in common.DEMO_STAFF:
        client = Client()
        client.force_login(get_user_model().objects.get(email=email))
        common.timed_get(client, url)  # warm-up: connection, templates, the session
        _, queries = common.timed_get(client, url)
        times = sorted(common.timed_get(client, url)[0] for _ in range(args.repeat))
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        print(f"{label:<20}{len(queries):>9}{statistics.median(times):>11.1f}{p95:>9.1f}{times[0]:>9.1f}")
        if args.show_queries:
            for query in queries:
                print("   ", query["sql"][:220])


if __name__ == "__main__":
    main()
