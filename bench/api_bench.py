"""The public data layer at scale: API list and detail, the change stream, a public dump, an as-of view.

    .venv/bin/python bench/serve_bench.py --prepare 100000   # once: the 100,000-profile bench database
    .venv/bin/python bench/api_bench.py [--repeat 50] [--changes 1000] [--skip-dump] [--only PART]

In-process through Django's test client against DATABASE_URL (default: the bench database) and
REDIS_URL (default: Redis db 3), as an anonymous reader and as a Leadership Alliance member:

- server time (p50/p95, ms) of a list page of 50 and of a profile's detail, **cold** (a different
  page or profile every request: nothing of it in the database's buffers yet, content version
  bumped so no cached fragment helps) and **warm** (the same URL again), and queries per request at
  page sizes 10, 50 and 200 (they must not grow with the page);
- worker CPU per request (process CPU time) of the API detail against the HTML profile page of the
  same profile for the same member (both uncached renders);
- `changes?since=` over `--changes` fresh changes (evidence saves, committed), one page of 1,000;
- `manage.py export_dump --tier public` in a subprocess: wall time and its peak memory (max RSS);
- the as-of view (`?as_of=`) of a profile: p95 server time.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/btwprofiles_bench"


def setup():
    import os

    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.update(common.bench_env(DJANGO_ALLOWED_HOSTS="testserver,127.0.0.1"))
    common.django_setup()
    from django.conf import settings

    settings.STORAGES = {
        **settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    }
    settings.BTW_API_RATE_ANONYMOUS = settings.BTW_API_RATE_TOKEN = "off"  # noqa: S105 (a rate, not a secret)


def pct(values, p):
    return common.percentile(values, p)


def row(label, times, queries):
    print(f"{label:<46}{statistics.median(times):>9.1f}{pct(times, 95):>9.1f}{queries:>9}")


def clients():
    from django.test import Client

    from membership.models import Membership, Tier

    member = Membership.objects.filter(tier__slug=Tier.LEADERSHIP_ALLIANCE_SLUG, status="active").first().user
    signed_in = Client()
    signed_in.force_login(member)
    return {"anonymous": Client(), "alliance": signed_in}


def bench_reads(repeat):
    from profiles.cache import bump_content_version
    from profiles.models import Institution

    slugs = list(Institution.objects.published().order_by("?").values_list("slug", flat=True)[: repeat * 4])
    print(f"\n{'API read (ms)':<46}{'p50':>9}{'p95':>9}{'queries':>9}")
    for who, client in clients().items():
        # Cold: a different list page / profile each time, the content version bumped before each.
        times_list, times_detail = [], []
        for n in range(repeat):
            bump_content_version()
            after = random.randint(1, 90_000)
            elapsed, q_list = common.timed_get(client, f"/api/v1/evidence/?page_size=50&cursor={_cursor(after)}")
            times_list.append(elapsed)
            bump_content_version()
            elapsed, q_detail = common.timed_get(client, f"/api/v1/institutions/{slugs[n]}/")
            times_detail.append(elapsed)
        row(f"{who}: evidence list, page of 50, cold", times_list, len(q_list))
        row(f"{who}: profile detail, cold", times_detail, len(q_detail))
        for label, url in (("institutions list, page of 50", "/api/v1/institutions/?page_size=50"),
                           ("evidence list, page of 50", "/api/v1/evidence/?page_size=50"),
                           ("profile detail", f"/api/v1/institutions/{slugs[-1]}/")):
            common.timed_get(client, url)
            results = [common.timed_get(client, url) for _ in range(repeat)]
            row(f"{who}: {label}, warm", [t for t, _ in results], len(results[-1][1]))
    print("\nqueries per request by page size (anonymous):")
    client = clients()["anonymous"]
    for name in ("institutions", "evidence", "relationships", "watchpoints", "timeline"):
        counts = [len(common.timed_get(client, f"/api/v1/{name}/?page_size={size}")[1]) for size in (10, 50, 200)]
        print(f"  {name:<14} page_size 10/50/200: {counts}")


def _cursor(after_pk: int) -> str:
    import base64

    return base64.urlsafe_b64encode(f"p={after_pk}".encode()).decode()


def bench_cpu(repeat):
    """Process CPU per request: the API's whole profile against the HTML page, same member, uncached."""
    from django.conf import settings

    from profiles.models import Institution

    settings.BTW_FRAGMENT_CACHE_TIMEOUT = 0  # both renders uncached
    client = clients()["alliance"]
    slug = Institution.objects.published().order_by("pk").values_list("slug", flat=True).first()
    out = {}
    for label, url in (("API detail", f"/api/v1/institutions/{slug}/"), ("HTML profile page", f"/profiles/{slug}/")):
        common.timed_get(client, url)
        start = time.process_time()
        for _ in range(repeat):
            common.timed_get(client, url)
        out[label] = (time.process_time() - start) / repeat * 1000
    print(f"\nworker CPU per request, alliance member, uncached: API detail {out['API detail']:.2f} ms, "
          f"HTML page {out['HTML profile page']:.2f} ms (ratio {out['API detail'] / out['HTML profile page']:.2f})")


def bench_changes(n):
    from django.db import transaction

    from profiles.api import changes
    from profiles.models import EvidenceItem

    client = clients()["anonymous"]
    cursor = client.get("/api/v1/changes/", {"since": "now"}).json()["next"]
    items = list(EvidenceItem.objects.public().order_by("?")[:n])
    with transaction.atomic():
        for item in items:
            item.claim = item.claim.rstrip(".") + "."
            item.save(update_fields=["claim", "updated_at"])
    url = f"/api/v1/changes/?since={cursor}&limit={changes.MAX_LIMIT}"
    elapsed, queries = common.timed_get(client, url)
    records = len(client.get(url).json()["results"])
    times = [common.timed_get(client, url)[0] for _ in range(5)]
    print(f"\nchanges?since= over {n} fresh changes: {records} records in one page; first read {elapsed:.0f} ms, "
          f"then p50 {statistics.median(times):.0f} ms; {len(queries)} queries")


def bench_dump():
    import os

    env = dict(os.environ, BTW_DUMP_DIR="/tmp/btw_bench_dumps")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run([common.PYTHON, "manage.py", "export_dump", "--tier", "public"], cwd=common.ROOT, env=env,
                   check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"\nexport_dump --tier public: {elapsed:.0f} s, peak RSS {max(peak, before) / 1024:.0f} MB "
          f"(files in /tmp/btw_bench_dumps/public/)")


def bench_as_of(repeat):
    from django.utils import timezone

    from profiles.models import Institution

    client = clients()["anonymous"]
    # Profiles written through the services have history (seed_scale's bulk rows have none: 404).
    with_history = Institution.history.values_list("id", flat=True).distinct()
    slugs = list(Institution.objects.published().filter(pk__in=with_history).values_list("slug", flat=True))
    slugs = (slugs * repeat)[:repeat]
    day = timezone.localdate().isoformat()
    times, queries = [], 0
    for slug in slugs:
        elapsed, captured = common.timed_get(client, f"/profiles/{slug}/?as_of={day}")
        times.append(elapsed)
        queries = len(captured)
    print(f"\n{'as-of page (ms)':<46}{'p50':>9}{'p95':>9}{'queries':>9}")
    row(f"as-of view of the {len(set(slugs))} demo profiles (today)", times, queries)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--skip-dump", action="store_true")
    parser.add_argument("--only", choices=["reads", "cpu", "changes", "as-of", "dump"], help="run one part")
    args = parser.parse_args()
    setup()
    from profiles.models import Institution

    print(f"{Institution.objects.count():,} profiles on {common.bench_env()['DATABASE_URL'].rsplit('/', 1)[-1]}")
    parts = {
        "reads": lambda: bench_reads(args.repeat),
        "cpu": lambda: bench_cpu(args.repeat),
        "changes": lambda: bench_changes(args.changes),
        "as-of": lambda: bench_as_of(args.repeat),
        "dump": bench_dump,
    }
    for name, run in parts.items():
        if (args.only or name) == name and not (name == "dump" and args.skip_dump and not args.only):
            run()


if __name__ == "__main__":
    main()
