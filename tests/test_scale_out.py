"""Two app servers sharing PostgreSQL and Redis: an edit made through one is read through the other at once.

Real gunicorn processes on loopback ports, the test database and a Redis database of their own.
Needs PostgreSQL (DATABASE_URL) and Redis on 127.0.0.1:6379; skipped with the reason otherwise, and a
failure under CI when Redis is missing (CI starts it). The helpers here serve tests/test_configurations.py
and tests/test_faults.py too.
"""

import http.cookiejar
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
import redis
from django.db import connection

from .factories import InstitutionFactory, StaffFactory
from .html_forms import form_data

ROOT = Path(__file__).resolve().parent.parent
REDIS = ("127.0.0.1", 6379)


def missing_service(reason: str):
    """A service a test needs is not there: skip with the reason, but fail under CI, which provides it."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)")
    pytest.skip(reason)


def _redis_up(address=REDIS) -> bool:
    try:
        with socket.create_connection(address, timeout=1):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A real gunicorn on a free loopback port; `workers` > 1 gives the kernel's accept balancing."""

    def __init__(self, env, workers: int = 1):
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"],
            cwd=ROOT,
            env={**env, "GUNICORN_BIND": f"127.0.0.1:{self.port}", "GUNICORN_WORKERS": str(workers)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url("/healthz"), timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not start")

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def two_servers(transactional_db, settings):
    if connection.vendor != "postgresql":
        pytest.skip("Scale-out needs PostgreSQL shared by both servers (run with DATABASE_URL=postgres://…)")
    if not _redis_up():
        missing_service("Scale-out needs Redis on 127.0.0.1:6379 shared by both servers")
    db = connection.settings_dict
    prefix = f"btwtest-{uuid.uuid4().hex[:8]}"
    redis_url = "redis://127.0.0.1:6379/5"
    # Passwords set here must verify in the servers, which use the production hashers.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    # This process shares the servers' cache too, so what it saves invalidates their pages as well.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url,
                    "KEY_PREFIX": prefix}
    }
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": prefix,
        "DJANGO_TESTING": "1",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "BTW_REQUIRE_STAFF_MFA": "0",
        "DJANGO_CONN_MAX_AGE": "0",
        "GUNICORN_ACCESS_LOG": "/dev/null",
    }
    servers = [Server(env), Server(env)]
    yield servers
    for server in servers:
        server.stop()
    # The shared Redis outlives the test: leave none of this run's keys behind in it.
    shared = redis.Redis.from_url(redis_url)
    for key in shared.scan_iter(match=f"{prefix}:*", count=1000):
        shared.delete(key)


def _browser():
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar)), jar


def _get(opener, url):
    with opener.open(url, timeout=10) as response:
        return response.read().decode(), dict(response.headers)


def test_edit_through_one_server_is_read_through_the_other_at_once(two_servers):
    first, second = two_servers
    profile = InstitutionFactory(name="Scale Out Exchange", dek="The dek before the edit.")
    editor = StaffFactory(is_superuser=True, email="editor@example.org", verified=True)
    editor.set_password("correct-horse-battery-staple")
    editor.save()

    reader, _ = _browser()
    before, headers = _get(reader, second.url(profile.get_absolute_url()))
    again, headers = _get(reader, second.url(profile.get_absolute_url()))
    assert "The dek before the edit." in again and headers.get("X-Page-Cache") == "hit"

    # The editor signs in and saves the admin change form on the FIRST server.
    staff, jar = _browser()
    _get(staff, first.url("/accounts/login/"))
    csrf = next(c.value for c in jar if c.name == "csrftoken")
    fields = {"csrfmiddlewaretoken": csrf, "login": "editor@example.org", "password": "correct-horse-battery-staple"}
    staff.open(urllib.request.Request(
        first.url("/accounts/login/"), data=urllib.parse.urlencode(fields, doseq=True).encode(),
        headers={"Referer": first.url("/accounts/login/")},
    ), timeout=10)
    change_url = f"/admin/profiles/institution/{profile.pk}/change/"
    page, _ = _get(staff, first.url(change_url))
    assert 'id="institution_form"' in page, "the editor is not signed in on the first server"
    data = form_data(page, "institution_form")
    data["dek"] = "The dek after the edit."
    staff.open(urllib.request.Request(
        first.url(change_url), data=urllib.parse.urlencode(data, doseq=True).encode(),
        headers={"Referer": first.url(change_url)},
    ), timeout=10)
    profile.refresh_from_db()
    assert profile.dek == "The dek after the edit.", "the admin save through the first server did not land"

    after, headers = _get(reader, second.url(profile.get_absolute_url()))
    assert "The dek after the edit." in after and "The dek before the edit." not in after
    assert headers.get("X-Page-Cache") == "miss"
