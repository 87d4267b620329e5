"""Real worker processes (`manage.py run_worker`) on the test database: a worker killed with SIGKILL in
the middle of a job loses nothing — another worker retries the job once the lease has passed, and
its effect happens once.

Needs PostgreSQL (DATABASE_URL=postgres://…): workers in several processes claim jobs with
`SELECT … FOR UPDATE SKIP LOCKED` on a database every process shares; the SQLite test database lives
in this process's memory. The helpers here serve tests/test_digest_queue_workers.py too.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection, transaction
from django_tasks import TaskResultStatus, task
from django_tasks_db.models import DBTaskResult

from jobs.models import WorkerHeartbeat
from profiles.models import Sector

ROOT = Path(__file__).resolve().parent.parent
LEASE = 1.5  # seconds: short, so a dead worker's job comes back within the test


@task()
def blocking_effect(key: str, flag_dir: str, hold_after_effect: bool = False) -> str:
    """Test-only job: say it started, wait for "go", make its effect (a Sector row named `key`,
    created once however often the job runs), then with `hold_after_effect` wait for "release"
    — a worker killed there has made the effect but not recorded the job as done."""
    flags = Path(flag_dir)
    (flags / f"started-{os.getpid()}").touch()
    _wait_for(flags / "go")
    with transaction.atomic():
        _, created = Sector.objects.get_or_create(slug=key, defaults={"name": key})
    (flags / f"effect-{os.getpid()}-{'created' if created else 'found'}").touch()
    if hold_after_effect:
        _wait_for(flags / "release")
    return key


def _wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.02)


def eventually(check, *, timeout: float = 30, message: str = "condition"):
    """Poll `check` until it returns something true; fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {message}")


class WorkerProcess:
    """`manage.py run_worker` in a process of its own against this test database."""

    def __init__(self, env: dict, log_dir: Path, name: str):
        self.worker_id = f"{name}-{uuid.uuid4().hex[:8]}"
        self.log = open(log_dir / f"{self.worker_id}.log", "w")  # noqa: SIM115 — closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "run_worker", "--worker-id", self.worker_id, "--interval", "0.05",
             "--no-startup-delay"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        eventually(self.ready, timeout=60, message=f"worker {self.worker_id} to beat its heartbeat")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"worker {self.worker_id} exited: {Path(self.log.name).read_text()[-3000:]}")
        return WorkerHeartbeat.objects.filter(worker_id=self.worker_id).exists()

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is cleaned up, as when a machine or the OOM killer takes it."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture
def start_worker(transactional_db, settings, tmp_path):
    """Start real workers on the test database (PostgreSQL only); this process enqueues to it too."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "Real workers need PostgreSQL (run with DATABASE_URL=postgres://…): they claim jobs with "
            "SELECT … FOR UPDATE SKIP LOCKED from other processes, and SQLite's test database is in memory"
        )
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "DJANGO_TESTING": "1",
        "BTW_TASKS_BACKEND": "database",
        "BTW_TASK_LEASE": str(LEASE),
        "DJANGO_CONN_MAX_AGE": "0",
        "EMAIL_URL": f"filemail:///{tmp_path / 'mail'}",  # django-environ keeps what follows the third slash
    }
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    workers = []

    def start(name="worker"):
        worker = WorkerProcess(env, tmp_path, name)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.mark.postgres
@pytest.mark.parametrize("killed", ["before the effect", "after the effect, before the job is marked done"])
def test_job_of_a_worker_killed_mid_job_completes_once_on_another_worker(start_worker, tmp_path, killed):
    flags = tmp_path / "flags"
    flags.mkdir()
    first = start_worker("first")
    hold = killed.startswith("after")
    result = blocking_effect.enqueue("sigkill-survivor", str(flags), hold_after_effect=hold)
    eventually(lambda: (flags / f"started-{first.pid}").exists(), message="the first worker to start the job")
    if hold:
        (flags / "go").touch()
        eventually(lambda: (flags / f"effect-{first.pid}-created").exists(), message="the first worker's effect")
    second = start_worker("second")

    first.kill()
    (flags / "go").touch()
    (flags / "release").touch()

    row = eventually(
        lambda: DBTaskResult.objects.filter(pk=result.id, status=TaskResultStatus.SUCCESSFUL).first(),
        message="the job to be retried and finish on the second worker",
    )
    assert row.worker_ids == [first.worker_id, second.worker_id]
    assert Sector.objects.filter(slug="sigkill-survivor").count() == 1  # the effect, once
    effects = sorted(p.name for p in flags.glob("effect-*"))
    if hold:
        assert effects == [f"effect-{first.pid}-created", f"effect-{second.pid}-found"]
    else:
        assert effects == [f"effect-{second.pid}-created"]
    assert not WorkerHeartbeat.objects.alive(LEASE).filter(worker_id=first.worker_id).exists()


@pytest.mark.postgres
def test_two_workers_share_the_queue_and_run_each_job_once(start_worker):
    from jobs.tasks import ping

    workers = [start_worker("a"), start_worker("b")]
    results = [ping.enqueue(n) for n in range(40)]
    eventually(
        lambda: DBTaskResult.objects.filter(status=TaskResultStatus.SUCCESSFUL).count() == len(results),
        message="every job to finish",
    )
    rows = list(DBTaskResult.objects.all())
    assert all(len(row.worker_ids) == 1 for row in rows)  # each claimed once
    assert sorted(row.return_value for row in rows) == list(range(40))
    assert {row.worker_ids[0] for row in rows} <= {w.worker_id for w in workers}
