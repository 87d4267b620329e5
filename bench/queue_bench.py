"""Benchmark of the background-job queue: enqueue and run throughput of a trivial job (`jobs.tasks.ping`).

    .venv/bin/python bench/queue_bench.py [--jobs 2000] [--workers 1,2] [--database postgres://…/btw_queue_bench]

On the database backend (django-tasks-db on PostgreSQL, what `make worker` runs):

- enqueue: `ping.enqueue()` one job per transaction (as an approval queues its capture), and the same
  jobs enqueued inside one transaction (as `send_watch_digests` could batch them);
- run: with 1, then 2 `manage.py run_worker` processes already started (heartbeats seen), `--jobs`
  rows are committed at once and the clock runs until every one is SUCCESSFUL: jobs/s of the pool.

`--rq` also times python-rq (Redis) when it is importable, on the same machine, for comparison:
plain RQ workers (`rq worker --burst`-style, forking per job by default, or `SimpleWorker`) running a
no-op function. It is not a dependency of the project; install it in a scratch venv to compare.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/btw_queue_bench"


def ensure_postgres_database(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def start_workers(count: int, env: dict) -> list[subprocess.Popen]:
    from jobs.models import WorkerHeartbeat

    procs = [
        subprocess.Popen(
            [common.PYTHON, "manage.py", "run_worker", "--worker-id", f"bench-{n}", "--interval", "0.05",
             "--no-startup-delay", "--verbosity", "0"],
            cwd=common.ROOT,
            env=env,
        )
        for n in range(count)
    ]
    deadline = time.monotonic() + 60
    while WorkerHeartbeat.objects.filter(worker_id__startswith="bench-").count() < count:
        if time.monotonic() > deadline:
            raise RuntimeError("workers did not start")
        time.sleep(0.1)
    return procs


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / common.CLK_TCK


def stop_workers(procs) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(timeout=30)


def bench_database(args, env) -> None:
    from django.db import transaction
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from jobs.models import WorkerHeartbeat
    from jobs.tasks import ping

    DBTaskResult.objects.all().delete()
    WorkerHeartbeat.objects.all().delete()
    started = time.perf_counter()
    for n in range(args.jobs):
        ping.enqueue(n)
    each = time.perf_counter() - started
    DBTaskResult.objects.all().delete()
    started = time.perf_counter()
    with transaction.atomic():
        for n in range(args.jobs):
            ping.enqueue(n)
    together = time.perf_counter() - started
    DBTaskResult.objects.all().delete()
    print(f"database backend (django-tasks-db {version('django-tasks-db')}, PostgreSQL), {args.jobs} ping jobs")
    print(f"  enqueue, one transaction each   {args.jobs / each:8.0f} jobs/s")
    print(f"  enqueue, one transaction in all {args.jobs / together:8.0f} jobs/s")

    for count in args.workers:
        procs = start_workers(count, env)
        try:
            with transaction.atomic():
                for n in range(args.jobs):
                    ping.enqueue(n)
            cpu_before = sum(cpu_seconds(p.pid) for p in procs)
            started = time.perf_counter()
            while DBTaskResult.objects.filter(status=TaskResultStatus.SUCCESSFUL).count() < args.jobs:
                time.sleep(0.05)
            elapsed = time.perf_counter() - started
            cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu_before
        finally:
            stop_workers(procs)
        claims = sum(len(ids) for ids in DBTaskResult.objects.values_list("worker_ids", flat=True))
        print(f"  run, {count} worker(s)               {args.jobs / elapsed:8.0f} jobs/s  "
              f"({elapsed:.1f} s; worker CPU {cpu / args.jobs * 1000:.1f} ms/job; {claims} claims, "
              f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        DBTaskResult.objects.all().delete()


def version(name: str) -> str:
    from importlib.metadata import version as v

    return v(name)


def bench_rq(args) -> None:
    try:
        import redis
        import rq
    except ImportError:
        print("rq: not installed here (pip install rq in a scratch venv and run with its python)")
        return
    connection = redis.Redis.from_url(args.redis)
    queue = rq.Queue("btw-queue-bench", connection=connection)
    queue.empty()
    started = time.perf_counter()
    for n in range(args.jobs):
        queue.enqueue("queue_bench.noop", n)
    enqueued = time.perf_counter() - started
    queue.empty()
    print(f"rq {rq.__version__} (Redis), {args.jobs} no-op jobs")
    print(f"  enqueue, one at a time          {args.jobs / enqueued:8.0f} jobs/s")
    for kind in ("Worker", "SimpleWorker"):
        for count in args.workers:
            queue.empty()
            for n in range(args.jobs):
                queue.enqueue("queue_bench.noop", n)
            started = time.perf_counter()
            procs = [
                subprocess.Popen(
                    [sys.executable, "-c", RQ_WORKER, args.redis, kind],
                    cwd=Path(__file__).resolve().parent,
                )
                for _ in range(count)
            ]
            for proc in procs:
                proc.wait()
            elapsed = time.perf_counter() - started
            print(f"  run, {count} {kind}(s) (burst)    {args.jobs / elapsed:8.0f} jobs/s  ({elapsed:.1f} s, "
                  "start-up included)")


def noop(value=None):
    return value


RQ_WORKER = """
import sys, redis, rq, rq.worker
import queue_bench  # noqa: F401 (the job's module)
conn = redis.Redis.from_url(sys.argv[1])
cls = getattr(rq.worker, sys.argv[2])
cls([rq.Queue("btw-queue-bench", connection=conn)], connection=conn).work(burst=True, logging_level="ERROR")
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--workers", default="1,2", help="worker counts to time, comma-separated")
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--rq", action="store_true", help="time python-rq only (run with a python that has rq)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/7")
    args = parser.parse_args()
    args.workers = [int(n) for n in args.workers.split(",")]
    if args.rq:
        bench_rq(args)
        return

    env = common.bench_env(DATABASE_URL=args.database, BTW_TASKS_BACKEND="database", REDIS_URL="")
    os.environ.update(env)
    ensure_postgres_database(args.database)
    common.django_setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    bench_database(args, env)


if __name__ == "__main__":
    main()
