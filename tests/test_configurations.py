"""Every supported configuration is correct, not only Redis: three gunicorn workers without Redis
(the database cache and database sessions), on a SQLite file and on PostgreSQL.

Each test builds a fresh database of its own, starts a real gunicorn with three workers, warms every
worker with the old state, makes a change from another process or through one worker, and then asks
24 times at once: every answer, from every worker (the access log names the pid), shows the change.
PostgreSQL comes from DATABASE_URL's server, or 127.0.0.1:5432; missing, it is a skip with the
reason, and a failure under CI.
"""

import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid

import psycopg
import pytest

from .test_scale_out import ROOT, Server, _browser, _get, missing_service

WORKERS = 3
ROUNDS = 24
PASSWORD = "correct-horse-battery-staple"

SETUP = """
import json
from membership.models import Tier
from profiles.models import Institution
from tests.factories import (BriefingFactory, EvidenceItemFactory, InstitutionFactory, MembershipFactory,
                             UserFactory, tier)
from membership.models import Membership

profile = InstitutionFactory(name="Configuration Exchange", slug="configuration-exchange",
                             dek="The dek before the change.")
EvidenceItemFactory(institution=profile, claim="A claim the moderator will retract.", title="Retractable story")
BriefingFactory(institution=profile, body="Circle analysis that moves up a tier.",
                required_tier=tier(Tier.STRATEGIC_CIRCLE_SLUG))
for email in ("reader@example.org", "leaver@example.org"):
    user = UserFactory(email=email, verified=True)
    user.set_password({password!r})
    user.save()
    MembershipFactory(user=user, tier=tier(Tier.STRATEGIC_CIRCLE_SLUG), status=Membership.Status.ACTIVE)
print(json.dumps({{"path": profile.get_absolute_url()}}))
"""

RETRACT = """
from profiles import review
from profiles.models import EvidenceItem
from tests.factories import StaffFactory
item = EvidenceItem.objects.get(title="Retractable story")
review.transition(item, to_state=EvidenceItem.Review.RETRACTED, actor=StaffFactory(is_superuser=True),
                  note="The outlet corrected it.")
"""

RETIER = """
from membership.models import Tier
from profiles.models import Briefing
briefing = Briefing.objects.get(body="Circle analysis that moves up a tier.")
briefing.required_tier = Tier.objects.get(slug=Tier.LEADERSHIP_ALLIANCE_SLUG)
briefing.save()
"""

EDIT_DEK = """
from profiles.models import Institution
profile = Institution.objects.get(slug="configuration-exchange")
profile.dek = "The dek after a manage.py change."
profile.save()
"""


def _postgres_server() -> dict | None:
    url = os.environ.get("DATABASE_URL", "")
    default = "postgres://postgres@127.0.0.1:5432/postgres"
    parsed = urllib.parse.urlparse(url if url.startswith("postgres") else default)
    server = {"host": parsed.hostname or "127.0.0.1", "port": parsed.port or 5432,
              "user": parsed.username or "postgres"}
    try:
        psycopg.connect(dbname="postgres", connect_timeout=3, autocommit=True, **server).close()
    except psycopg.OperationalError:
        return None
    return server


@pytest.fixture
def fresh_database(request, tmp_path):
    """A DATABASE_URL no other test uses: a SQLite file, or a PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'site.sqlite3'}"
        return
    server = _postgres_server()
    if server is None:
        missing_service("Needs a PostgreSQL server (DATABASE_URL's, or 127.0.0.1:5432)")
    name = f"btw_config_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"postgres://{server['user']}@{server['host']}:{server['port']}/{name}"
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _manage(env, *args, code=None):
    command = [sys.executable, "manage.py", *args] + (["-c", code] if code else [])
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"manage.py {args[0]} failed:\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture
def site(fresh_database, tmp_path):
    """Three gunicorn workers on that database without Redis, seeded through `manage.py`."""
    access_log = tmp_path / "access.log"
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CACHE_KEY_PREFIX")},
        "DATABASE_URL": fresh_database,
        "DJANGO_TESTING": "1",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "BTW_REQUIRE_STAFF_MFA": "0",
        "BTW_ALLOW_SELF_REVIEW": "1",
        "DJANGO_LOG_LEVEL": "ERROR",
        "GUNICORN_ACCESS_LOG": str(access_log),
        "GUNICORN_CMD_ARGS": "--access-logformat '%(p)s %(s)s %(U)s'",
    }
    _manage(env, "createcachetable")
    _manage(env, "migrate", "--noinput", "-v0")
    path = json.loads(_manage(env, "shell", code=SETUP.format(password=PASSWORD)).strip().splitlines()[-1])["path"]
    server = Server(env, workers=WORKERS)
    yield server, env, path, access_log
    server.stop()


def _sign_in(server, email):
    opener, jar = _browser()
    _get(opener, server.url("/accounts/login/"))
    csrf = next(c.value for c in jar if c.name == "csrftoken")
    fields = {"csrfmiddlewaretoken": csrf, "login": email, "password": PASSWORD}
    opener.open(urllib.request.Request(
        server.url("/accounts/login/"), data=urllib.parse.urlencode(fields).encode(),
        headers={"Referer": server.url("/accounts/login/")},
    ), timeout=10)
    assert any(c.name == "sessionid" for c in jar), f"{email} could not sign in"
    return opener, jar


def _sign_out(server, opener, jar):
    csrf = next(c.value for c in jar if c.name == "csrftoken")
    opener.open(urllib.request.Request(
        server.url("/accounts/logout/"), data=urllib.parse.urlencode({"csrfmiddlewaretoken": csrf}).encode(),
        headers={"Referer": server.url("/")},
    ), timeout=10)


def _replaying(cookies: dict):
    header = "; ".join(f"{name}={value}" for name, value in cookies.items())

    def fetch(url):
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Cookie": header}), timeout=10) as response:
            return response.read().decode()

    return fetch


def _anonymous(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def _ask_every_worker(fetch, url, access_log):
    """Answers for `url` in batches of ROUNDS until every worker gave some (the kernel balances
    accepts unevenly on a busy machine; at most ten batches), and the worker pids that gave them
    (from the access log). Every answer counts: one stale page anywhere fails the test."""
    before = access_log.read_text().count("\n") if access_log.exists() else 0
    pages, served_by = [], set()
    for _ in range(10):
        pages += [fetch(url) for _ in range(ROUNDS)]
        served_by = {line.split()[0] for line in access_log.read_text().splitlines()[before:]}
        if len(served_by) >= WORKERS:
            break
    return pages, served_by


@pytest.mark.parametrize("fresh_database", ["sqlite", "postgresql"], indirect=True)
def test_three_workers_without_redis_agree_at_once_after_every_kind_of_change(site):
    server, env, path, access_log = site
    url = server.url(path)
    reader, _ = _sign_in(server, "reader@example.org")
    leaver, leaver_jar = _sign_in(server, "leaver@example.org")
    old_session = {c.name: c.value for c in leaver_jar}
    read_as_member = lambda page_url: _get(reader, page_url)[0]  # noqa: E731

    # Every worker has the old state cached: the claim, the briefing, the member's session, the dek.
    pages, workers = _ask_every_worker(_anonymous, url, access_log)
    assert len(workers) == WORKERS, f"24 requests reached only workers {workers}"
    assert all("A claim the moderator will retract." in p and "The dek before the change." in p for p in pages)
    pages, _ = _ask_every_worker(read_as_member, url, access_log)
    assert all("Circle analysis that moves up a tier." in p for p in pages)
    pages, _ = _ask_every_worker(_replaying(old_session), url, access_log)
    assert all("Circle analysis that moves up a tier." in p for p in pages)

    # A moderator retracts the evidence (another process: no worker saw it happen).
    _manage(env, "shell", code=RETRACT)
    pages, workers = _ask_every_worker(_anonymous, url, access_log)
    stale = sum("A claim the moderator will retract." in p for p in pages)
    assert stale == 0 and len(workers) == WORKERS, f"{stale} of {len(pages)} answers still show the retracted claim"

    # The briefing is raised to the Leadership Alliance: a Strategic Circle member no longer reads it.
    _manage(env, "shell", code=RETIER)
    pages, workers = _ask_every_worker(read_as_member, url, access_log)
    stale = sum("Circle analysis that moves up a tier." in p for p in pages)
    assert stale == 0 and len(workers) == WORKERS, f"{stale} of {len(pages)} answers still show the re-tiered briefing"

    # A member signs out through one worker; replaying the old cookie is signed out on every worker.
    _sign_out(server, leaver, leaver_jar)
    pages, workers = _ask_every_worker(_replaying(old_session), server.url("/accounts/email/"), access_log)
    assert len(workers) == WORKERS
    with urllib.request.urlopen(urllib.request.Request(server.url("/accounts/email/"))) as probe:
        assert "/accounts/login/" in probe.url, "the e-mail page no longer asks an anonymous reader to sign in"
    signed_in = sum("leaver@example.org" in p for p in pages)
    assert signed_in == 0, f"{signed_in} of {len(pages)} replays of the old session cookie were still signed in"

    # A change made by `manage.py shell -c` (what cron does) reaches every worker.
    _manage(env, "shell", code=EDIT_DEK)
    pages, workers = _ask_every_worker(_anonymous, url, access_log)
    stale = sum("The dek after a manage.py change." not in p for p in pages)
    assert stale == 0 and len(workers) == WORKERS, f"{stale} of {len(pages)} answers still show the old dek"
