"""Benchmark of watchlist digests on the job queue: N due members, W `run_worker` processes (issue 16).

    .venv/bin/python bench/digest_bench.py [--members 100000] [--workers 2] [--batch-size N] [--kill]
                                           [--time-limit MINUTES] [--database postgres://…/btw_digest_bench]

It seeds (once, in bulk) members who each follow a few published profiles with fresh public sources,
makes exactly `--members` of them due, starts the workers (BTW_TASKS_BACKEND=database), runs
`manage.py send_watch_digests` (which enqueues one job per batch and returns) and times until every
digest job is SUCCESSFUL. The workers mail through Django's file backend into a temporary folder, so
the mails can be counted per recipient across processes: exactly once means every due member got
one mail and one digest record, nobody two, nobody else any. Peak RSS is each worker's VmHWM.

`--kill` SIGKILLs one worker once a third of the jobs are done and starts a replacement: the lease
(`BTW_TASK_LEASE`, short here) puts its batch back and exactly once must still hold. A member whose
digest committed just before the kill but whose mail was not handed over yet is in the outbox: the
bench then runs `send_queued_mail`, as cron would. `--time-limit` stops a run that would take too long
(the workers finish their batch) and checks exactly once over the members served by then; the rate and
the workers' CPU per digest extrapolate to the rest. Exits 1 when exactly once fails.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import queue_bench  # noqa: E402

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/btw_digest_bench"
PREFIX = "digestbench"
PROFILES = 60  # published profiles the members follow
SOURCES_PER_PROFILE = 3  # approved public sources each, reviewed within the digest window
FOLLOWS = 3  # profiles each member follows: a digest of FOLLOWS × SOURCES_PER_PROFILE updates
SEED_BATCH = 10_000  # members per transaction while seeding
PASSWORD = "bench-only-password"  # noqa: S105 - hashed once; every bench member shares the hash
MAIL_SEPARATOR = b"\n" + b"-" * 79 + b"\n"  # what the file backend writes after each message
TASK_PATH = "profiles.watch.send_digest_batch"


# --- seeding ------------------------------------------------------------------------------------


def seed_profiles() -> list[int]:
    """The bench's published profiles with their sources (made once); returns their ids."""
    from profiles.models import EvidenceItem, Institution

    ours = Institution.objects.filter(slug__startswith=f"{PREFIX}-").order_by("pk")
    existing = list(ours.values_list("pk", flat=True))
    if len(existing) >= PROFILES:
        return existing[:PROFILES]
    published = datetime.datetime(2026, 1, 5, 12, tzinfo=datetime.UTC)
    profiles = Institution.objects.bulk_create(
        Institution(
            name=f"Digest bench carrier {n}",
            slug=f"{PREFIX}-{n}",
            type=Institution.Type.COMPANY,
            base_region=Institution.Region.EUROPE,
            dek=f"Digest bench carrier {n} runs subsea cable capacity other networks depend on.",
            what_it_does="Operates cable landing stations and sells wholesale transit.",
            why_it_matters="Public-source signals support dependency analysis.",
            status=Institution.Status.PUBLISHED,
            published_at=published,
            public_updated_at=published,
        )
        for n in range(len(existing), PROFILES)
    )
    EvidenceItem.objects.bulk_create(
        EvidenceItem(
            institution=profile,
            url=f"https://news.example.org/{profile.slug}/{j}",
            publisher="Example News",
            title=f"Landing station {j} at {profile.name} approved",
            source_date=datetime.date(2026, 1, 5),
            claim="The regulator approved the landing station; construction starts next quarter.",
            review_state=EvidenceItem.Review.APPROVED,
        )
        for profile in profiles
        for j in range(SOURCES_PER_PROFILE)
    )
    return existing + [p.pk for p in profiles]


def seed_members(total: int, profile_ids: list[int]) -> None:
    """Bench members up to `total`: user, verified address, Strategic Circle membership, daily digest
    setting, FOLLOWS follows. Bulk inserts, one transaction per SEED_BATCH members."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    User = get_user_model()
    existing = User.objects.filter(username__startswith=f"{PREFIX}-").count()
    if existing >= total:
        print(f"seed: {existing:,} bench members exist already")
        return
    password = make_password(PASSWORD)
    started = time.perf_counter()
    for offset in range(existing, total, SEED_BATCH):
        _seed_batch(range(offset, min(offset + SEED_BATCH, total)), profile_ids, password)
        done = min(offset + SEED_BATCH, total)
        rate = (done - existing) / (time.perf_counter() - started)
        print(f"seed: {done:>9,} / {total:,} members  ({rate:,.0f}/s)", flush=True)
    analyze()


def _seed_batch(numbers: range, profile_ids: list[int], password: str) -> None:
    from allauth.account.models import EmailAddress
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from membership.models import Membership, Tier
    from profiles.models import Follow, WatchSettings

    User = get_user_model()
    now = timezone.now()
    long_ago = now - datetime.timedelta(days=365)
    circle = Tier.objects.get(slug=Tier.STRATEGIC_CIRCLE_SLUG)
    rng = random.Random(numbers.start)
    with transaction.atomic():
        users = User.objects.bulk_create(
            [User(username=f"{PREFIX}-{n}", email=f"{PREFIX}-{n}@example.org", password=password) for n in numbers],
            batch_size=5000,
        )
        EmailAddress.objects.bulk_create(
            [EmailAddress(user=u, email=u.email, verified=True, primary=True) for u in users], batch_size=5000
        )
        Membership.objects.bulk_create(
            [Membership(user=u, tier=circle, status=Membership.Status.ACTIVE, started_at=long_ago) for u in users],
            batch_size=5000,
        )
        WatchSettings.objects.bulk_create(
            [WatchSettings(user=u, frequency=WatchSettings.Frequency.DAILY, last_digest_at=now) for u in users],
            batch_size=5000,
        )
        Follow.objects.bulk_create(
            [
                Follow(user=u, institution_id=pk, last_seen_at=long_ago)
                for u in users
                for pk in rng.sample(profile_ids, FOLLOWS)
            ],
            batch_size=5000,
        )


def analyze() -> None:
    """Fresh planner statistics after bulk writes (a stale plan can be many times slower)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("auth_user", "account_emailaddress", "membership_membership", "profiles_watchsettings",
                      "profiles_follow", "profiles_evidenceitem", "profiles_digestdelivery", "outbox_outgoingmail"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def make_due(members: int) -> dict[int, tuple[int, str]]:
    """Exactly the first `members` bench members due a daily digest, with sources reviewed since
    their last one, and nothing left of an earlier run; returns (user id, address) by watch settings id."""
    from django.contrib.auth import get_user_model
    from django.db.models import Case, Value, When
    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    from jobs.models import WorkerHeartbeat
    from outbox.models import OutgoingMail
    from profiles.models import DigestDelivery, EvidenceItem, WatchSettings
    from profiles.watch import due_for_digest

    now = timezone.now()
    DBTaskResult.objects.all().delete()
    WorkerHeartbeat.objects.all().delete()
    DigestDelivery.objects.all().delete()
    OutgoingMail.objects.all().delete()
    bench_users = get_user_model().objects.filter(username__startswith=f"{PREFIX}-").order_by("pk")
    last = bench_users.values_list("pk", flat=True)[members - 1]
    yesterday = now - datetime.timedelta(hours=25)
    WatchSettings.objects.update(
        last_digest_at=Case(
            When(user__in=bench_users.filter(pk__lte=last), then=Value(yesterday)), default=Value(now)
        )
    )
    EvidenceItem.objects.filter(institution__slug__startswith=f"{PREFIX}-").update(
        reviewed_at=now - datetime.timedelta(hours=2)
    )
    analyze()
    return {pk: (user_id, email) for pk, user_id, email in due_for_digest().values_list("pk", "user_id", "user__email")}


# --- workers --------------------------------------------------------------------------------------


def start_worker(worker_id: str, env: dict) -> subprocess.Popen:
    """A `run_worker` process, returned once its heartbeat is in the database."""
    from jobs.models import WorkerHeartbeat

    proc = subprocess.Popen(
        [common.PYTHON, "manage.py", "run_worker", "--worker-id", worker_id, "--interval", "0.05",
         "--no-startup-delay", "--verbosity", "0"],
        cwd=common.ROOT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while not WorkerHeartbeat.objects.filter(worker_id=worker_id).exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"worker {worker_id} did not start")
        time.sleep(0.1)
    return proc


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set so far (VmHWM, kept by the kernel)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def job_counts() -> Counter:
    from django_tasks_db.models import DBTaskResult

    return Counter(DBTaskResult.objects.filter(task_path=TASK_PATH).values_list("status", flat=True))


def run(args, env) -> dict:
    """Start the workers, enqueue the digests, wait for every job; returns timings and peaks."""
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from profiles.models import DigestDelivery

    workers = {f"digest-{n}": start_worker(f"digest-{n}", env) for n in range(args.workers)}
    peaks, cpu, killed, partial = {}, {}, None, False
    try:
        started = time.perf_counter()
        subprocess.run([common.PYTHON, "manage.py", "send_watch_digests", *(["--batch-size", str(args.batch_size)]
                        if args.batch_size else [])], cwd=common.ROOT, env=env, check=True)
        enqueued = time.perf_counter() - started
        jobs = sum(job_counts().values())
        print(f"run: {jobs} jobs enqueued in {enqueued:.1f}s", flush=True)
        last_report = time.perf_counter()
        while True:
            counts = job_counts()
            done, failed = counts[TaskResultStatus.SUCCESSFUL], counts[TaskResultStatus.FAILED]
            if done + failed == jobs:
                break
            if args.time_limit and time.perf_counter() - started > args.time_limit * 60:
                partial = True
                print(f"run: time limit reached with {done}/{jobs} jobs done; stopping the workers", flush=True)
                break
            if args.kill and killed is None and done >= jobs // 3:
                killed = kill_one(workers, peaks, cpu, env)
            for worker_id, proc in workers.items():
                if proc.poll() is not None and worker_id != killed:
                    raise RuntimeError(f"worker {worker_id} exited with {proc.returncode}")
            if time.perf_counter() - last_report > 15:
                last_report = time.perf_counter()
                print(f"run: {done}/{jobs} jobs done after {last_report - started:.0f}s", flush=True)
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        digests = DigestDelivery.objects.count()  # by then: a stopped run's workers still finish their batch
        retried = sum(len(ids) > 1 for ids in DBTaskResult.objects.values_list("worker_ids", flat=True))
        for worker_id, proc in workers.items():
            if worker_id != killed:
                peaks[worker_id] = peak_rss_mb(proc.pid)
                cpu[worker_id] = queue_bench.cpu_seconds(proc.pid)
    finally:
        stop_workers([proc for worker_id, proc in workers.items() if worker_id != killed])
    return {"jobs": jobs, "done": done, "failed": failed, "enqueue_s": enqueued, "wall_s": elapsed, "digests": digests,
            "peaks": peaks, "cpu_s": sum(cpu.values()), "killed": killed, "retried": retried, "partial": partial}


def stop_workers(procs) -> None:
    """SIGTERM: each worker finishes the batch it is on (a loaded machine may need minutes), then exits."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def kill_one(workers: dict, peaks: dict, cpu: dict, env) -> str:
    """SIGKILL the first worker mid-batch and start a replacement; returns the killed worker's id."""
    victim = next(iter(workers))
    proc = workers[victim]
    peaks[f"{victim} (killed)"] = peak_rss_mb(proc.pid)
    cpu[victim] = queue_bench.cpu_seconds(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    replacement = f"digest-{len(workers)}"
    print(f"run: killed {victim} (pid {proc.pid}); starting {replacement}", flush=True)
    workers[replacement] = start_worker(replacement, env)
    return victim


# --- counting -------------------------------------------------------------------------------------


def mails_by_recipient(mail_dir: Path) -> Counter:
    """Messages the workers' file backend wrote, by their To header."""
    found = Counter()
    for path in mail_dir.glob("*.log"):
        for chunk in path.read_bytes().split(MAIL_SEPARATOR):
            headers = chunk.lstrip().split(b"\n\n", 1)[0]
            for line in headers.splitlines():
                if line.startswith(b"To: "):
                    found[line[4:].decode().strip()] += 1
                    break
    return found


def flush_outbox(env) -> int:
    """Send what a killed worker committed but had not handed to the mail backend (cron's job)."""
    from outbox.models import OutgoingMail

    left = OutgoingMail.objects.filter(state=OutgoingMail.State.QUEUED).count()
    if left:
        subprocess.run([common.PYTHON, "manage.py", "send_queued_mail"], cwd=common.ROOT, env=env, check=True)
    return left


def served(due: dict[int, tuple[int, str]]) -> dict[int, tuple[int, str]]:
    """The due members a stopped run must have mailed: those of its finished jobs, and any with a record."""
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from profiles.models import DigestDelivery

    finished = DBTaskResult.objects.filter(task_path=TASK_PATH, status=TaskResultStatus.SUCCESSFUL)
    pks = {pk for args in finished.values_list("args_kwargs", flat=True) for pk in args["args"][0]}
    recorded = set(DigestDelivery.objects.values_list("user_id", flat=True))
    return {pk: member for pk, member in due.items() if pk in pks or member[0] in recorded}


def tally(due: dict[int, tuple[int, str]], expected: dict[int, tuple[int, str]], mail_dir: Path) -> dict:
    """Mails (by recipient) and digest records (by member) against the members `expected` to be served;
    a mail to anyone `due` counts as sent, to anyone else as unexpected."""
    from outbox.models import OutgoingMail
    from profiles.models import DigestDelivery

    mails = mails_by_recipient(mail_dir)
    records = Counter(DigestDelivery.objects.values_list("user_id", flat=True))
    addresses = {email for _, email in due.values()}
    return {
        "mails": sum(mails.values()),
        "duplicates": sum(n - 1 for n in mails.values() if n > 1),
        "missing": sum(1 for _, email in expected.values() if email not in mails),
        "unexpected": sum(n for to, n in mails.items() if to not in addresses),
        "record_duplicates": sum(n - 1 for n in records.values() if n > 1),
        "record_missing": sum(1 for user_id, _ in expected.values() if user_id not in records),
        "records": sum(records.values()),
        "stuck": OutgoingMail.objects.filter(state=OutgoingMail.State.SENDING).count(),
    }


def report(args, batch_size: int, result: dict, counts: dict, flushed: int) -> bool:
    ok = not (counts["duplicates"] or counts["missing"] or counts["unexpected"] or counts["record_duplicates"]
              or counts["record_missing"] or result["failed"])
    digests = result["digests"]  # when the clock stopped
    rows = [
        ("members due", f"{args.members:,}" + (f" (stopped at the time limit: {digests:,} served by then)"
                                                 if result["partial"] else "")),
        ("batch size (jobs)", f"{batch_size} ({result['done']} of {result['jobs']} done)"),
        ("workers", f"{args.workers}" + (f", {result['killed']} SIGKILLed and replaced" if result["killed"] else "")),
        ("jobs run twice (lease)", str(result["retried"])),
        ("wall time", f"{result['wall_s']:.1f} s (enqueue {result['enqueue_s']:.1f} s)"),
        ("digests/s", f"{digests / result['wall_s']:,.1f}"),
        ("worker CPU per digest", f"{result['cpu_s'] / max(digests, 1) * 1000:.1f} ms"),
        *((f"peak RSS {worker}", f"{mb:.0f} MB") for worker, mb in result["peaks"].items()),
        ("mails sent", f"{counts['mails']:,}" + (f" ({flushed} by send_queued_mail)" if flushed else "")),
        ("duplicates", f"{counts['duplicates']} (digest records {counts['record_duplicates']})"),
        ("missing", f"{counts['missing']} (digest records {counts['record_missing']})"),
        ("mails to members not due", str(counts["unexpected"])),
        ("failed jobs / stuck mails", f"{result['failed']} / {counts['stuck']}"),
        ("exactly once", ("yes" if ok else "NO") + (" (of the members served so far)" if result["partial"] else "")),
    ]
    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print(f"  (load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000, help="due members (default 100000)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=None, help="members per job (default BTW_DIGEST_BATCH_SIZE)")
    parser.add_argument("--kill", action="store_true", help="SIGKILL one worker a third of the way and replace it")
    parser.add_argument("--lease", type=float, default=None,
                        help="BTW_TASK_LEASE for the workers, seconds (default: the setting; 10 with --kill)")
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--time-limit", type=float, default=None,
                        help="minutes; stop there and report the members served so far (a loaded machine)")
    parser.add_argument("--keep-mail", action="store_true", help="leave the mail folder in place and print it")
    args = parser.parse_args()
    if args.members < 1 or args.workers < 1 or (args.batch_size is not None and args.batch_size < 1):
        parser.exit(2, "digest_bench: --members, --workers and --batch-size must be at least 1.\n")

    try:
        queue_bench.ensure_postgres_database(args.database)
    except Exception as exc:  # noqa: BLE001 - psycopg's errors, a malformed URL: one line, not a traceback
        parser.exit(2, f"digest_bench: cannot open {args.database}: {str(exc).strip().splitlines()[0]}\n")

    mail_dir = Path(tempfile.mkdtemp(prefix="btw-digest-bench-mail-"))
    extra = {"DATABASE_URL": args.database, "BTW_TASKS_BACKEND": "database", "REDIS_URL": "",
             "EMAIL_URL": f"filemail:///{mail_dir}",  # django-environ keeps what follows the third slash
             "BTW_SOURCE_CHECK_EVERY": 0, "BTW_ARCHIVE_EVERY": 0}  # no periodic jobs beside the digests
    lease = args.lease if args.lease is not None else (10 if args.kill else None)
    if lease is not None:
        extra["BTW_TASK_LEASE"] = lease
    env = common.bench_env(**extra)
    os.environ.update(env)
    common.django_setup()
    from django.conf import settings
    from django.core.management import call_command

    try:
        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        seed_members(args.members, seed_profiles())
        due = make_due(args.members)
        print(f"seed: ready in {time.perf_counter() - started:.1f}s; {len(due):,} members due", flush=True)
        if len(due) != args.members:
            sys.exit(f"digest_bench: {len(due)} members are due, not {args.members}; the bench data is off.")
        result = run(args, env)
        flushed = flush_outbox(env) if result["killed"] or result["partial"] else 0
        counts = tally(due, served(due) if result["partial"] else due, mail_dir)
        ok = report(args, args.batch_size or settings.BTW_DIGEST_BATCH_SIZE, result, counts, flushed)
    finally:
        if args.keep_mail:
            print(f"mail: {mail_dir}")
        else:
            shutil.rmtree(mail_dir, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
