"""Benchmark of the sources: capture throughput and `check_sources` over many URLs on many hosts.

    .venv/bin/python bench/source_bench.py [--urls 10000] [--hosts 50] [--latency 0.05]
        [--capture-concurrency 32] [--concurrency 8,50] [--database postgres://…/btw_source_bench]
        [--redis redis://127.0.0.1:6379/11 | --redis ""]

A local threaded HTTP server answers every URL after `--latency` seconds and counts the requests in
flight per Host header; `--hosts` names (h0.bench, h1.bench…) resolve to it in this process (the
fetcher's `resolve` is patched and the names allowed). `--urls` approved evidence rows are seeded in bulk,
spread evenly over the hosts. Then:

- capture: `capture()` of every item from a pool of `--capture-concurrency` threads (captures are one
  job each, and jobs run side by side: no per-host limit), URLs/s;
- check_sources: every source made due, one run with budget = `--urls` at each `--concurrency`: URLs/s,
  and the peak of concurrent requests to one host as the server saw it and as the run saw it (both
  must be 1).

The database (default btw_source_bench on the local PostgreSQL) is created and migrated if needed; the
rows of an earlier run are deleted first.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from queue_bench import ensure_postgres_database  # noqa: E402

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/btw_source_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/11"  # its own Redis database: its content-version bumps touch no other bench
PUBLISHER = "source-bench"
PARAGRAPH = (
    "The operator added two hundred racks of capacity at its northern campus, with cabling and power "
    "systems supplied under the agreement announced last quarter, according to the filing. "
)


class LatencyServer(ThreadingHTTPServer):
    """Answers every GET after `latency` seconds; counts requests in flight per Host (and their peak)."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024

    def __init__(self, latency: float):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.latency = latency
        self.lock = threading.Lock()
        self.in_flight: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.requests = 0

    def reset(self):
        with self.lock:
            self.in_flight.clear()
            self.peak.clear()
            self.requests = 0

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        server = self.server
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        with server.lock:
            server.requests += 1
            server.in_flight[host] = server.in_flight.get(host, 0) + 1
            server.peak[host] = max(server.peak.get(host, 0), server.in_flight[host])
        try:
            time.sleep(server.latency)
            body = f"<html><head><title>Filing {self.path}</title></head><body><p>{PARAGRAPH * 8}</p></body></html>"
            body = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        finally:
            with server.lock:
                server.in_flight[host] -= 1


def host_names(count: int) -> list[str]:
    return [f"h{n}.bench" for n in range(count)]


def prepare(args) -> None:
    """Environment, database and Django for this process (the host names allowed for the fetcher)."""
    os.environ.setdefault("DATABASE_URL", args.database)
    ensure_postgres_database(os.environ["DATABASE_URL"])
    env = common.bench_env(DJANGO_ALLOWED_HOSTS="127.0.0.1", REDIS_URL=args.redis,
                           BTW_FETCH_ALLOWED_HOSTS=",".join(host_names(args.hosts)))
    os.environ.update(env)
    common.manage("migrate", "--verbosity", "0", env=dict(os.environ))
    common.django_setup()


def seed(urls: int, hosts: list[str], port: int) -> list[int]:
    """`urls` approved evidence rows on one institution, round-robin over the hosts (bulk: no history)."""
    import datetime

    from django.utils import timezone

    from profiles.models import EvidenceItem, Institution, ReviewState, SourceHost

    EvidenceItem.objects.filter(publisher=PUBLISHER).delete()  # their checks and tracking go with them
    SourceHost.objects.filter(host__endswith=".bench").delete()
    institution, _ = Institution.objects.get_or_create(
        slug="source-bench",
        defaults={
            "name": "Source Bench", "type": Institution.Type.COMPANY, "base_region": Institution.Region.NORTH_AMERICA,
            "dek": "Seeded by bench/source_bench.py.", "what_it_does": "-", "why_it_matters": "-",
            "status": Institution.Status.DRAFT,
        },
    )
    now = timezone.now()
    rows = [
        EvidenceItem(
            institution=institution, url=f"http://{hosts[n % len(hosts)]}:{port}/filing/{n}", publisher=PUBLISHER,
            title=f"Filing {n}", source_date=datetime.date(2025, 11, 20), claim="Capacity added.",
            review_state=ReviewState.APPROVED, reviewed_at=now,
        )
        for n in range(urls)
    ]
    EvidenceItem.objects.bulk_create(rows, batch_size=2000)
    return list(EvidenceItem.objects.filter(publisher=PUBLISHER).order_by("pk").values_list("pk", flat=True))


def bench_capture(ids: list[int], concurrency: int) -> dict:
    from django.db import connections

    from profiles.sources.capture import capture

    outcomes: dict[str, int] = {}
    lock = threading.Lock()

    def one(pk):
        check = capture(pk)
        with lock:
            outcomes[check.outcome] = outcomes.get(check.outcome, 0) + 1

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, ids))
        barrier = threading.Barrier(concurrency)  # one close per worker thread: each holds a connection

        def close():
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=30)
            connections.close_all()

        list(pool.map(lambda _: close(), range(concurrency)))
    elapsed = time.monotonic() - started
    return {"elapsed": elapsed, "rate": len(ids) / elapsed, "outcomes": outcomes}


def bench_check(urls: int, concurrency: int) -> dict:
    import datetime

    from django.utils import timezone

    from profiles.models import TrackedSource
    from profiles.sources.recheck import check_sources

    TrackedSource.objects.update(next_check_at=timezone.now() - datetime.timedelta(seconds=1))
    report = check_sources(budget=urls, concurrency=concurrency)
    return {"elapsed": report.elapsed, "rate": report.checked / report.elapsed, "report": report}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--urls", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.05, help="Seconds the server waits before each answer.")
    parser.add_argument("--capture-concurrency", type=int, default=32)
    parser.add_argument("--concurrency", default="8,50", help="check_sources concurrencies to run, comma-separated.")
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--redis", default=DEFAULT_REDIS, help='The shared cache; "" for the database cache.')
    args = parser.parse_args()
    prepare(args)

    from profiles.sources import fetch

    hosts = host_names(args.hosts)
    known = set(hosts)
    real_resolve = fetch.resolve
    fetch.resolve = lambda host, port: ["127.0.0.1"] if host in known else real_resolve(host, port)
    server = LatencyServer(args.latency)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ids = seed(args.urls, hosts, server.server_port)
        print(f"{len(ids)} approved sources on {args.hosts} hosts, {args.latency * 1000:.0f} ms per answer")
        rows = []
        captured = bench_capture(ids, args.capture_concurrency)
        rows.append((f"capture, {args.capture_concurrency} threads", len(ids), captured["elapsed"],
                     captured["rate"], max(server.peak.values()), "-", captured["outcomes"]))
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            server.reset()
            checked = bench_check(args.urls, concurrency)
            report = checked["report"]
            outcomes = {k: getattr(report, k) for k in ("ok", "moved", "changed", "gone", "failed", "waited", "errors")
                        if getattr(report, k)}
            rows.append((f"check_sources, concurrency {concurrency}", report.checked, checked["elapsed"],
                         checked["rate"], max(server.peak.values()), report.peak_per_host, outcomes))
    finally:
        server.shutdown()
        server.server_close()

    print(f"\n{'run':<30} {'URLs':>6} {'seconds':>8} {'URLs/s':>7} {'peak/host (server)':>19} {'(run)':>6}  outcomes")
    for name, count, elapsed, rate, peak, run_peak, outcomes in rows:
        print(f"{name:<30} {count:>6} {elapsed:>8.1f} {rate:>7.0f} {peak:>19} {run_peak!s:>6}  {outcomes}")


if __name__ == "__main__":
    main()
