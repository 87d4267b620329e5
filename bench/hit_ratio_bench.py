"""Hit ratio of the page cache under edits: a Zipf-distributed read load while an editor saves.

    .venv/bin/python bench/serve_bench.py --prepare 100000     # once: the 100,000-profile bench database
    .venv/bin/python bench/hit_ratio_bench.py [--seconds 60] [--paths 20000] [--zipf 1.1] [--edits 1]

gunicorn (2 workers) on the bench database (PostgreSQL) and Redis; `wrk` replays `--paths` addresses
drawn from a Zipf distribution over every published profile's page (a few hot pages, a long tail),
with one request in twenty for a list page (home, directory pages, the feed). The cache is first
brought to a steady state — every distinct address of the list requested once, as a site that has
run for a while would have them — then `--seconds` are measured while an editor in this process
saves `--edits` profile changes per second through the same service the admin uses
(`services.save_institution`), on profiles drawn uniformly. wrk's Lua counts the `X-Page-Cache`
answers (hit or miss) and the latency; each wrk thread starts at its own place in the list.

Two runs, the cache flushed before each: **global** — every edit retires every cached page (what one
content version did before dependency tags; emulated by making `dependencies.tags_for` place
nothing, so each edit moves `site`) — then **tags**, the code as it is.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

PORT = 8093
LISTS = ["/", "/profiles/", "/profiles/?page=2", "/profiles/?page=3", "/feeds/profiles/"]

LUA = r"""
local paths = {}
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
local counter = 0
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  hits, misses, other = 0, 0, 0
  counter = id * math.floor(#paths / 2)
end
function request()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
function response(status, headers, body)
  local state = headers["X-Page-Cache"]
  if state == "hit" then hits = hits + 1 elseif state == "miss" then misses = misses + 1 else other = other + 1 end
end
function done(summary, latency, requests)
  local h, m, o = 0, 0, 0
  for _, t in ipairs(threads) do h = h + t:get("hits"); m = m + t:get("misses"); o = o + t:get("other") end
  io.write(string.format("RESULT hits=%%d misses=%%d other=%%d requests=%%d p50=%%.2f p95=%%.2f p99=%%.2f errors=%%d\n",
    h, m, o, summary.requests, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect + summary.errors.timeout))
end
"""


def zipf_sampler(n: int, s: float, rng: random.Random):
    weights = [1.0 / (rank**s) for rank in range(1, n + 1)]
    cumulative = list(itertools.accumulate(weights))
    total = cumulative[-1]
    return lambda: bisect.bisect_left(cumulative, rng.random() * total)


def write_paths(slugs: list[str], count: int, s: float, seed: int) -> str:
    rng = random.Random(seed)
    ranked = slugs[:]
    rng.shuffle(ranked)  # which profiles are hot: any, not the first seeded
    draw = zipf_sampler(len(ranked), s, rng)
    lines = [
        rng.choice(LISTS) if rng.random() < 0.05 else f"/profiles/{ranked[draw()]}/" for _ in range(count)
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(lines) + "\n")
    return handle.name


def warm(server, paths_file: str) -> int:
    """Request every distinct address once (8 at a time): the cache as a running site has it."""
    from concurrent.futures import ThreadPoolExecutor
    from urllib.request import urlopen

    distinct = list(dict.fromkeys(Path(paths_file).read_text().split()))

    def get(path):
        with urlopen(server.url(path), timeout=60) as response:
            response.read()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(get, distinct))
    return len(distinct)


def wrk(url: str, seconds: int, script: str) -> dict:
    out = subprocess.run(
        ["wrk", "-t2", "-c8", f"-d{seconds}s", "-s", script, url], capture_output=True, text=True, check=True
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT"))
    return {k: float(v) for k, v in (part.split("=") for part in line.split()[1:])}


class Editor(threading.Thread):
    """Saves `rate` profile edits per second through the admin's service until stopped."""

    def __init__(self, ids: list[int], rate: float):
        super().__init__(daemon=True)
        self.ids, self.rate, self.saved = ids, rate, 0
        self.stop = threading.Event()

    def run(self):
        from django.contrib.auth import get_user_model
        from django.db import connection, transaction

        from profiles import services
        from profiles.models import Institution

        editor = get_user_model().objects.filter(is_superuser=True).first()
        rng = random.Random(7)
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        try:
            while not self.stop.is_set():
                with transaction.atomic():
                    institution = Institution.objects.get(pk=rng.choice(self.ids))
                    institution.what_to_watch = f"Bench edit {self.saved} at {time.time():.0f}."
                    services.save_institution(institution=institution, user=editor, form_version=institution.version)
                self.saved += 1
                next_at += interval
                self.stop.wait(max(0.0, next_at - time.monotonic()))
        finally:
            connection.close()


def run(mode: str, args, paths_file: str, ids: list[int]) -> dict:
    import redis
    from django.conf import settings

    from profiles import dependencies

    redis.Redis.from_url(settings.CACHES["default"]["LOCATION"]).flushdb()
    original = dependencies.tags_for
    if mode == "global":
        dependencies.tags_for = lambda instance, **kwargs: None  # every edit moves `site`
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(LUA % {"paths": paths_file})
    try:
        with common.Gunicorn(PORT, workers=2) as server:
            started = time.monotonic()
            distinct = warm(server, paths_file)
            print(f"  {mode}: {distinct:,} distinct addresses warmed in {time.monotonic() - started:.0f} s")
            rss_warm = server.worker_rss_mb()
            editor = Editor(ids, args.edits)
            editor.start()
            result = wrk(server.url("/"), args.seconds, str(script))
            editor.stop.set()
            editor.join()
            rss_end = server.worker_rss_mb()
            # Many distinct pages and misses: if any per-process store grew with them, it shows here.
            print(f"  {mode}: worker RSS MB after warming {[round(x) for x in rss_warm]}, "
                  f"after the measured run {[round(x) for x in rss_end]}")
    finally:
        dependencies.tags_for = original
        script.unlink()
    answered = result["hits"] + result["misses"]
    return {**result, "mode": mode, "edits": editor.saved, "hit_ratio": result["hits"] / answered if answered else 0}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--zipf", type=float, default=1.1)
    parser.add_argument("--edits", type=float, default=1.0)
    parser.add_argument("--paths", type=int, default=20_000, help="addresses drawn for wrk to cycle through")
    parser.add_argument("--only", choices=["global", "tags"])
    args = parser.parse_args()
    os.environ.update({k: v for k, v in common.bench_env().items() if k not in os.environ})
    common.django_setup()
    from profiles.models import Institution

    rows = list(Institution.objects.published().values_list("pk", "slug"))
    ids, slugs = [pk for pk, _ in rows], [slug for _, slug in rows]
    paths_file = write_paths(slugs, args.paths, args.zipf, seed=11)
    print(f"{len(slugs):,} published profiles; Zipf s={args.zipf} ({args.paths:,} draws); {args.edits:g} edit(s)/s; "
          f"measured {args.seconds} s")
    print(f"{'mode':<7} {'requests':>9} {'hit ratio':>9} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'edits':>6} errors")
    for mode in ([args.only] if args.only else ["global", "tags"]):
        r = run(mode, args, paths_file, ids)
        print(f"{mode:<7} {r['requests']:>9,.0f} {r['hit_ratio']:>9.1%} {r['p50']:>7.2f} {r['p95']:>7.2f} "
              f"{r['p99']:>7.2f} {r['edits']:>6} {r['errors']:.0f}")
    os.unlink(paths_file)


if __name__ == "__main__":
    main()
