"""Server-time benchmark of the reader's directory and search, and the admin changelists, at scale.

    .venv/bin/python bench/read_bench.py [--repeat 20]

Runs in-process against the bench database (DATABASE_URL, default in bench/common.py; seed it
with `bench/serve_bench.py --prepare 100000`), through Django's test client, so the figures are
server time: view, queries and template rendering, without network or load-generator noise.
Prints p50/p95 and the query count of each page.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

SEARCHES = [
    "fibre",
    "subsea cable",
    "data centre power",
    "peering exchange",
    "registry",
    "sovereign cloud",
    '"hyperscale campus"',
    "routing security -satellite",
    "foxconn openai",
    "spectrum policy market",
]
DIRECTORY = [
    "/profiles/",
    "/profiles/?page=50",
    "/profiles/?type=registry",
    "/profiles/?region=europe&criticality=high",
    "/profiles/?sector=subsea-cables&horizon=next-year",
]
ADMIN = [
    "/admin/profiles/institution/",
    "/admin/profiles/institution/?status__exact=published&type__exact=registry",
    "/admin/profiles/evidenceitem/",
    "/admin/profiles/evidenceitem/?review_state__exact=submitted",
    "/admin/profiles/evidenceitem/queue/",
]


def timed(client, url, repeat):
    from django.db import connection

    times, executed = [], []
    # Counts through an execute wrapper: request_started resets Django's own query log mid-request.
    with connection.execute_wrapper(lambda execute, sql, *a: executed.append(sql) or execute(sql, *a)):
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    for _ in range(repeat):
        start = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - start) * 1000)
    return common.percentile(times, 50), common.percentile(times, 95), len(executed)


def report(title, client, urls, repeat, target_ms):
    print(f"\n{title}")
    print(f"{'url':<72}{'p50 ms':>9}{'p95 ms':>9}{'queries':>9}")
    worst = 0.0
    for url in urls:
        p50, p95, queries = timed(client, url, repeat)
        worst = max(worst, p95)
        print(f"{url[:71]:<72}{p50:>9.1f}{p95:>9.1f}{queries:>9}")
    print(f"worst p95 {worst:.1f} ms (target < {target_ms} ms)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    os.environ.update(common.bench_env(DJANGO_ALLOWED_HOSTS="testserver,127.0.0.1"))
    common.django_setup()
    from urllib.parse import quote_plus

    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.test import Client

    from profiles.models import EvidenceItem, Institution

    print(f"{Institution.objects.count():,} profiles, {EvidenceItem.objects.count():,} evidence items")
    cache.clear()
    reader = Client()
    reader.cookies["sessionid"] = "bench-no-shared-cache"  # measure renders, not the page cache
    report("Directory (uncached renders)", reader, DIRECTORY, args.repeat, 50)
    report("Search (uncached renders)", reader, [f"/profiles/?q={quote_plus(q)}" for q in SEARCHES], args.repeat, 50)
    admin_user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"email": "bench-admin@example.org", "is_staff": True, "is_superuser": True}
    )
    staff = Client()
    staff.force_login(admin_user)
    report("Admin changelists", staff, ADMIN, max(5, args.repeat // 4), 300)


if __name__ == "__main__":
    main()
