"""Server-time benchmark of the reader's directory and search, and the admin changelists, at scale.

    .venv/bin/python bench/read_bench.py [--repeat 20]

Runs in-process against the bench database (DATABASE_URL, default in bench/common.py; seed it
with `bench/serve_bench.py --prepare 100000`), through Django's test client, so the figures are
server time: view, queries and template rendering, without network or load-generator noise.

For each page it prints two figures. "cold": the first render after the whole cache was cleared
(no cached facet counts, result lists or content version: what the first reader after an edit
waits), the median of `--cold` such renders. "repeated": p50/p95 of `--repeat` renders after that,
with the application's own caches warm (they are invalidated by any change readers can see). The
reader carries a session cookie, so the shared cache of anonymous pages never answers. Also the
query count of the cold render and of a repeated one.
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
    "/admin/profiles/evidencequeueitem/",  # the moderation queue
]


def get(client, url):
    """(milliseconds, queries) of one request."""
    from django.db import connection

    executed = []
    # Counts through an execute wrapper: request_started resets Django's own query log mid-request.
    with connection.execute_wrapper(lambda execute, sql, *a: executed.append(sql) or execute(sql, *a)):
        start = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - start) * 1000
    assert response.status_code == 200, (url, response.status_code)
    return elapsed, len(executed)


def timed(client, url, repeat, cold):
    from django.core.cache import cache

    cold_times = []
    for _ in range(max(1, cold)):
        cache.clear()  # facet counts, result lists, content version: all gone
        elapsed, cold_queries = get(client, url)
        cold_times.append(elapsed)
    times = []
    for _ in range(repeat):
        elapsed, queries = get(client, url)
        times.append(elapsed)
    return {
        "cold": common.percentile(cold_times, 50), "p50": common.percentile(times, 50),
        "p95": common.percentile(times, 95), "cold_queries": cold_queries, "queries": queries,
    }


def cold_sample(title, client, urls, target_ms, hubs=()):
    """Every URL rendered once right after the cache was cleared: p50/p95/max over the sample, then
    each hub's own figure (the profiles with the most ties: not a percentile's business, but the
    slowest pages there are)."""
    from django.core.cache import cache

    def cold(url):
        cache.clear()
        return get(client, url)

    results = [cold(url) for url in urls]
    times = [elapsed for elapsed, _ in results]
    print(f"\n{title}: {len(urls)} addresses at random, each rendered cold (cache cleared)")
    print(f"p50 {common.percentile(times, 50):.1f} ms, p95 {common.percentile(times, 95):.1f} ms, "
          f"max {max(times):.1f} ms (target p95 < {target_ms} ms); queries max {max(q for _, q in results)}")
    for url in hubs:
        elapsed, queries = cold(url)
        print(f"  hub {url}: {elapsed:.1f} ms, {queries} queries")
    return common.percentile(times, 95)


def profile_sample(count: int, seed: int = 17) -> tuple[list[str], list[str]]:
    """`count` published profiles at random, and the three with the most relationships (the hubs
    whose pages and maps are the heaviest)."""
    import random

    from django.db.models import Count

    from profiles.models import Institution, Relationship

    published = Institution.objects.published()
    top = published.order_by("-id").values_list("id", flat=True).first() or 0
    rng = random.Random(seed)
    candidates = [rng.randint(1, top) for _ in range(count * 2)]
    picks = list(published.filter(pk__in=candidates).values_list("slug", flat=True)[:count])
    by_links = Relationship.objects.values("target").annotate(n=Count("*")).order_by("-n")
    hub_ids = list(by_links.values_list("target", flat=True)[:3])
    hubs = Institution.objects.filter(pk__in=hub_ids).values_list("slug", flat=True)
    return sorted(picks), list(hubs)


def counts_comparison(rounds: int = 3) -> None:
    """The directory's counts (total and every facet) for each filter set, from the tallies and by
    counting the profiles, interleaved: what profiles/tallies.py buys, measured side by side."""
    from django.http import QueryDict

    from profiles import facets
    from profiles.models import Institution

    print("\nDirectory counts: tallies vs counting the profiles (ms, median of interleaved rounds)")
    for url in DIRECTORY:
        filters = facets.parse_filters(QueryDict(url.partition("?")[2]))
        tallied, counted = [], []
        for _ in range(rounds):
            start = time.perf_counter()
            facets._facet_counts(Institution.objects.published(), filters)
            facets.listing_count(filters)
            tallied.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            published = Institution.objects.published()
            facets._counts(facets._Profiles(published), filters)
            facets.apply_filters(published, filters).count()
            counted.append((time.perf_counter() - start) * 1000)
        median_tallied, median_counted = common.percentile(tallied, 50), common.percentile(counted, 50)
        print(f"{url[:59]:<60} tallies {median_tallied:7.1f}   counting {median_counted:7.1f}")


def report(title, client, urls, repeat, cold, target_ms):
    print(f"\n{title}")
    print(f"{'url':<60}{'cold ms':>9}{'p50 ms':>9}{'p95 ms':>9}{'queries cold/rep':>18}")
    worst = worst_cold = 0.0
    for url in urls:
        r = timed(client, url, repeat, cold)
        worst, worst_cold = max(worst, r["p95"]), max(worst_cold, r["cold"])
        queries = f"{r['cold_queries']}/{r['queries']}"
        print(f"{url[:59]:<60}{r['cold']:>9.1f}{r['p50']:>9.1f}{r['p95']:>9.1f}{queries:>18}")
    print(f"worst repeated p95 {worst:.1f} ms (target < {target_ms} ms); worst cold {worst_cold:.1f} ms")


def database_memory(prewarm: bool) -> str:
    """PostgreSQL's buffer cache beside the profiles' table, loaded into it first with `prewarm`.

    Every listing reads that table, and a broad search reads one of its pages per match: a serving
    database sized as the README says keeps it in its buffers. Read from the operating system's
    cache instead, a cold broad search takes 70-87 ms at 100,013 profiles rather than 47-53 (stock
    shared_buffers, 128 MB, hold less than the table). "Cold" below means the application's caches
    cleared, the database serving as it would; `--no-prewarm` measures a database that is not."""
    from django.db import connection

    table = "profiles_institution"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('shared_buffers'), pg_size_pretty(pg_total_relation_size(%s)), "
            "pg_total_relation_size(%s) < pg_size_bytes(current_setting('shared_buffers'))",
            [table, table],
        )
        buffers, size, fits = cursor.fetchone()
        if prewarm:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            cursor.execute(
                "SELECT pg_prewarm(c.oid) FROM pg_class c WHERE c.oid = %s::regclass "
                "OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = %s::regclass)",
                [table, table],
            )
    if not prewarm:
        loaded = "not loaded first (--no-prewarm)"
    else:
        loaded = "loaded into them first (pg_prewarm)" if fits else "NOT held by them: see the README's sizing"
    return f"PostgreSQL shared_buffers {buffers}; the profiles' table with its indexes {size}, {loaded}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--cold", type=int, default=3, help="cold renders per page (median reported)")
    parser.add_argument("--profiles", type=int, default=40, help="random profiles whose page and map render cold")
    parser.add_argument("--no-prewarm", dest="prewarm", action="store_false",
                        help="leave PostgreSQL's buffers as they are (see database_memory)")
    args = parser.parse_args()
    os.environ.update(common.bench_env(DJANGO_ALLOWED_HOSTS="testserver,127.0.0.1"))
    common.django_setup()
    from urllib.parse import quote_plus

    from django.contrib.auth import get_user_model
    from django.test import Client

    from profiles.models import EvidenceItem, Institution

    speed = common.machine_speed()
    print(f"{Institution.objects.count():,} profiles, {EvidenceItem.objects.count():,} evidence items; machine "
          f"speed: a fixed Python loop took {speed:.2f} s (bench/common.py: compare runs by it)")
    print(database_memory(args.prewarm))
    reader = Client()
    reader.cookies["sessionid"] = "bench-no-shared-cache"  # measure renders, not the page cache
    # Process start-up, not a page: the connection, templates, and the ranked pass's SQL, compiled once
    # per process and filter set (profiles/query_pass.py) for the unfiltered searches measured below.
    for url in ("/profiles/?q=warm+up&type=regulator", "/profiles/?q=warm+up"):
        get(reader, url)
    searches = [f"/profiles/?q={quote_plus(q)}" for q in SEARCHES]
    if args.profiles:
        slugs, hubs = profile_sample(args.profiles)
        for title, pattern in (("Profile pages", "/profiles/{}/"), ("Profile maps", "/profiles/{}/map/")):
            cold_sample(title, reader, [pattern.format(s) for s in slugs], 50, [pattern.format(s) for s in hubs])
    cold_sample("Searches", reader, searches, 50)
    report("Directory (renders, not the anonymous page cache)", reader, DIRECTORY, args.repeat, args.cold, 50)
    counts_comparison()
    report("Search (renders, not the anonymous page cache)", reader, searches, args.repeat, args.cold, 50)
    admin_user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"email": "bench-admin@example.org", "is_staff": True, "is_superuser": True}
    )
    staff = Client()
    staff.force_login(admin_user)
    report("Admin changelists", staff, ADMIN, max(5, args.repeat // 4), 1, 300)
    print(f"\nmachine speed after: the same loop took {common.machine_speed():.2f} s")


if __name__ == "__main__":
    main()
