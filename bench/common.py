"""Shared pieces of the benchmarks: a gunicorn under test, wrk runs, and the workers' own accounting."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def django_setup():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "btwprofiles.settings")
    import django

    django.setup()


def bench_env(**extra) -> dict:
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/btwprofiles_bench")
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/3")
    env.setdefault("DJANGO_SECRET_KEY", "bench-only-secret-key-" + "x" * 40)
    env.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
    env.setdefault("DJANGO_LOG_LEVEL", "ERROR")
    env.setdefault("BTW_REQUIRE_STAFF_MFA", "0")  # the bench admin user has no authenticator
    env.update({k: str(v) for k, v in extra.items()})
    return env


def manage(*args, env=None, check=True):
    return subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env or bench_env(), check=check)


class Gunicorn:
    """A gunicorn serving the project on a loopback port, stopped on exit."""

    def __init__(self, port: int, workers: int = 2, env: dict | None = None):
        self.port, self.workers, self.env = port, workers, env or bench_env()
        self.proc = None

    def __enter__(self):
        env = dict(self.env, GUNICORN_BIND=f"127.0.0.1:{self.port}", GUNICORN_WORKERS=str(self.workers),
                   GUNICORN_ACCESS_LOG="/dev/null", GUNICORN_LOG_LEVEL="warning", GUNICORN_MAX_REQUESTS="0")
        self.proc = subprocess.Popen([GUNICORN, "--config", "gunicorn.conf.py"], cwd=ROOT, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                    if r.status == 200 and len(self.worker_pids()) == self.workers:
                        return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"gunicorn on port {self.port} did not become healthy")

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(p) for p in children.read_text().split()] if children.exists() else []

    def worker_cpu_seconds(self) -> float:
        """User + system CPU of all workers, from the kernel's own accounting."""
        total = 0
        for pid in self.worker_pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / CLK_TCK

    def worker_rss_mb(self) -> list[float]:
        out = []
        for pid in self.worker_pids():
            pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
            out.append(pages * PAGE_SIZE / 2**20)
        return out


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if m is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def wrk(url: str, *, seconds: int = 10, connections: int = 8, threads: int = 2, headers=()) -> dict:
    """Run wrk with latency percentiles; returns requests/s, p50, p99 (ms) and request count."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.MULTILINE).group(1))
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.MULTILINE).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "requests": requests, "errors": errors}


def percentile(values, pct):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


# --- benches that render admin pages in this process (change form, history compare) -----------------

#: The demo profile (seed_demo) and the demo staff who open its admin pages.
DEMO_SLUG = "foxconn-openai-ai-infrastructure"
DEMO_STAFF = [("superuser", "admin@example.org"), ("assigned analyst", "analyst@example.org")]


def in_process_django(database_url: str, *, prepare: bool) -> bool:
    """Set up Django in this process on `database_url` (unless DATABASE_URL is set) with the database
    cache and plain static storage (asset URLs need no collectstatic manifest). With `prepare`,
    migrate and seed the demo data instead and answer False: the caller exits."""
    os.environ.setdefault("DATABASE_URL", database_url)
    os.environ.update(bench_env(DJANGO_ALLOWED_HOSTS="testserver,127.0.0.1", REDIS_URL=""))
    if prepare:
        manage("migrate", "--verbosity", "0", env=dict(os.environ))
        manage("seed_demo", env=dict(os.environ))
        return False
    django_setup()
    from django.conf import settings

    settings.STORAGES = {
        **settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    }
    return True


def timed_get(client, url) -> tuple[float, list]:
    """(milliseconds, queries) of one GET of `url` through Django's test client."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    reset_queries()  # the request resets Django's query log when it starts: count from zero
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - start) * 1000
    assert response.status_code == 200, (url, response.status_code)
    return elapsed, queries.captured_queries


def machine_speed() -> float:
    """CPU seconds of a fixed pure-Python loop: how fast this (shared) machine is right now.
    Absolute figures such as CPU per request move with it; ratios in one run do not."""
    started = time.process_time()
    total = 0
    for i in range(10_000_000):
        total += i * i
    return time.process_time() - started
