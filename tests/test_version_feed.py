"""The version feed (profiles/version_feed.py): the fast path answers with no cache call while nothing has
been announced since it last read the versions, and never serves a page an announced change retired.

Through the WSGI application, as tests/test_fast_path.py does (its helpers and fixtures are reused). The
cross-process tests run the change in a subprocess, so that only the feed, not this process's own
generation, can tell the fast path about it.
"""

import datetime
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.cache import caches
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from btwprofiles import fastpath
from profiles import dependencies, version_feed
from profiles.cache import tag_key

from .factories import InstitutionFactory
from .factories_membership import alliance_member
from .test_fast_path import (
    BROTLI,
    DATABASE_CACHE,
    ENCODINGS,
    _inside_the_test_transaction,
    call,
    django_app,
    fast,
    fast_answer,
    full_answer,
    learn,
    planted,
    session_cookie,
)

pytestmark = pytest.mark.django_db
_FIXTURES = (_inside_the_test_transaction, django_app, fast, planted)  # test_fast_path's, used by name

REDIS = ("127.0.0.1", 6379)
REDIS_URL = "redis://127.0.0.1:6379/10"


def cache_reads(monkeypatch) -> list:
    """Every get/get_many on this thread's default cache, recorded (the fast path's and the full path's);
    a get_many made of gets (local memory) counts once."""
    cache = caches["default"]
    reads, depth = [], [0]
    for name in ("get", "get_many"):
        original = getattr(cache, name)

        def counted(*args, _original=original, **kwargs):
            if not depth[0]:
                reads.append(args[0])
            depth[0] += 1
            try:
                return _original(*args, **kwargs)
            finally:
                depth[0] -= 1

        monkeypatch.setattr(cache, name, counted)
    return reads


def trusted_answer(app, url: str, reads: list, **environ):
    """A request the fast path answers with no cache call at all."""
    before = len(reads)
    answer = fast_answer(app, url, **environ)
    assert len(reads) == before, f"{url}: {reads[before:]}"
    return answer


def read_answer(app, url: str, reads: list, **environ):
    """A request the fast path answers after one get_many (the versions read again)."""
    before = len(reads)
    answer = fast_answer(app, url, **environ)
    assert len(reads) == before + 1, f"{url}: {reads[before:]}"
    return answer


def settled(app, url: str, reads: list, **environ):
    """Learned, and the versions read once: the next answer is a trusted one."""
    learn(app, url, **environ)
    fast_answer(app, url, **environ)
    return trusted_answer(app, url, reads, **environ)


def redis_reachable() -> None:
    try:
        socket.create_connection(REDIS, timeout=1).close()
    except OSError:
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")


def use_backend(settings, backend: str) -> str:
    """Point the default cache at a shared backend with a prefix of its own; returns the prefix."""
    prefix = f"feed-{uuid.uuid4().hex[:12]}"
    if backend == "redis":
        redis_reachable()
        settings.CACHES = {
            "default": {
                "BACKEND": "btwprofiles.redis_cache.ResilientRedisCache",
                "LOCATION": REDIS_URL,
                "KEY_PREFIX": prefix,
            },
            "durable": {**DATABASE_CACHE, "KEY_PREFIX": prefix},
        }
    else:
        if connection.vendor != "postgresql":
            pytest.skip("the database is not PostgreSQL (set DATABASE_URL=postgres://…): no LISTEN/NOTIFY")
        settings.CACHES = {"default": {**DATABASE_CACHE, "KEY_PREFIX": prefix}}
    return prefix


@pytest.fixture
def clean_redis():
    prefixes = []
    yield prefixes
    if prefixes:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for prefix in prefixes:
            for key in client.scan_iter(match=f"{prefix}:*"):
                client.delete(key)


@pytest.fixture
def clock(monkeypatch):
    """The feed's clock, moved by hand."""
    now = [time.monotonic()]
    monkeypatch.setattr(version_feed, "monotonic", lambda: now[0])
    return now


def wait_for(condition, within: float = 1.0) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        version_feed.listener().poll()
        time.sleep(0.005)
    return True


# --- no round trip while nothing moved -------------------------------------------------------------


def test_a_learned_page_is_answered_with_no_cache_call(fast, django_app, monkeypatch):
    url = InstitutionFactory(name="Quiet Exchange").get_absolute_url()
    reads = cache_reads(monkeypatch)
    settled(fast, url, reads)
    for accept in ENCODINGS.values():
        answer = trusted_answer(fast, url, reads, **accept)
        reference = call(django_app, url, **accept)
        assert (answer.status, answer.header_set(), answer.body) == (
            reference.status, reference.header_set(), reference.body
        )
    etag = trusted_answer(fast, url, reads)["ETag"]
    call(fast, url, HTTP_IF_NONE_MATCH=etag)  # learns the full path's 304 headers
    fast_answer(fast, url, HTTP_IF_NONE_MATCH=etag)
    assert trusted_answer(fast, url, reads, HTTP_IF_NONE_MATCH=etag).code == 304
    assert trusted_answer(fast, url, reads, method="HEAD").body == b""


def test_an_edit_in_this_process_sends_that_profile_to_the_full_path_at_once(fast, monkeypatch):
    a, b = InstitutionFactory(name="Alpha Feed"), InstitutionFactory(name="Beta Feed")
    reads = cache_reads(monkeypatch)
    for profile in (a, b):
        settled(fast, profile.get_absolute_url(), reads)
    a.dek = "Alpha, edited in a transaction that never commits."
    a.save()
    fresh = full_answer(fast, a.get_absolute_url())
    assert fresh["X-Page-Cache"] == "miss" and b"never commits" in fresh.body
    read_answer(fast, b.get_absolute_url(), reads)  # trust retired for every page: read once, still fast
    assert b"Beta Feed" in trusted_answer(fast, b.get_absolute_url(), reads).body


def test_another_processs_announcement_retires_the_trust(fast, monkeypatch):
    profile = InstitutionFactory(name="Elsewhere Exchange")
    url = profile.get_absolute_url()
    reads = cache_reads(monkeypatch)
    settled(fast, url, reads)
    # Another process's edit: its row, its counter move (a plain write here), its announcement heard.
    type(profile).objects.filter(pk=profile.pk).update(dek="Changed by another process.")
    caches["default"].set_many({tag_key(tag): secrets.randbits(62) for tag in dependencies.page_tags(profile.slug)})
    version_feed.listener().heard()
    fresh = full_answer(fast, url)
    assert fresh["X-Page-Cache"] == "miss" and b"Changed by another process." in fresh.body


def test_after_the_trust_window_the_fast_path_reads_again(fast, monkeypatch, clock, settings):
    settings.BTW_VERSION_FEED_TRUST = 1.0
    url = InstitutionFactory().get_absolute_url()
    reads = cache_reads(monkeypatch)
    settled(fast, url, reads)
    clock[0] += 0.9
    trusted_answer(fast, url, reads)
    clock[0] += 0.1
    read_answer(fast, url, reads)
    trusted_answer(fast, url, reads)


def test_a_publication_time_reached_is_read_again_within_the_trust_window(fast, monkeypatch):
    due = timezone.now() + datetime.timedelta(hours=1)
    InstitutionFactory(name="Scheduled Exchange", published_at=due)
    url = InstitutionFactory().get_absolute_url()
    reads = cache_reads(monkeypatch)
    settled(fast, url, reads)  # the versions read with the schedule mark: due then
    monkeypatch.setattr(fastpath, "time", SimpleNamespace(time=lambda: due.timestamp()))  # the fast path's clock
    read_answer(fast, url, reads)  # not trusted once the time has come: asks the cache (not due by its clock)


def test_with_the_feed_off_every_answer_reads_the_versions(fast, monkeypatch, settings):
    settings.BTW_VERSION_FEED = False
    profile = InstitutionFactory(name="Feedless Exchange")
    url = profile.get_absolute_url()
    reads = cache_reads(monkeypatch)
    learn(fast, url)
    fast_answer(fast, url)
    for _ in range(3):
        read_answer(fast, url, reads)
    profile.dek = "Edited with the feed off."
    profile.save()
    assert b"Edited with the feed off." in full_answer(fast, url).body


def test_the_trusted_path_never_serves_members_only_text(fast, planted, secret, monkeypatch):
    slug = {"slug": planted.slug}
    urls = [
        reverse("profiles:detail", kwargs=slug),
        reverse("profiles:map", kwargs=slug),
        reverse("feed_profile", kwargs=slug),
        reverse("home"),
    ]
    reads = cache_reads(monkeypatch)
    for url in urls:
        settled(fast, url, reads)
        for accept in ENCODINGS.values():
            answer = trusted_answer(fast, url, reads, **accept)
            assert secret.encode() not in answer.body and secret not in str(answer.headers), url
    # Present where it should be: an alliance member, through the same application, gets it from the full path.
    member = full_answer(fast, urls[0], **session_cookie(alliance_member()))
    assert secret.encode() in member.body and member.get("X-Page-Cache") is None


# --- the listener's connection ---------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["redis", "postgresql"])
def test_an_announcement_on_the_channel_retires_the_trust(fast, settings, monkeypatch, clean_redis, backend):
    clean_redis.append(use_backend(settings, backend))
    settings.BTW_VERSION_FEED_TRUST = 60.0  # only the feed can retire it here
    profile = InstitutionFactory(name="Channel Exchange")
    url = profile.get_absolute_url()
    reads = cache_reads(monkeypatch)
    settled(fast, url, reads, **BROTLI)
    feed = version_feed.listener()
    assert feed.healthy
    caches["default"].set_many({tag_key(tag): secrets.randbits(62) for tag in dependencies.page_tags(profile.slug)})
    trusted_answer(fast, url, reads, **BROTLI)  # moved without an announcement: unseen (the trust window's case)
    before = version_feed.generation()
    if backend == "redis":
        import redis

        redis.Redis.from_url(REDIS_URL).publish(feed.channel, b"")
    else:
        import psycopg

        params = {k: v for k, v in connection.get_connection_params().items() if k != "cursor_factory"}
        with psycopg.connect(**params, autocommit=True) as other:  # another process's committed NOTIFY
            other.execute("SELECT pg_notify(%s, '')", [feed.channel])
    assert wait_for(lambda: version_feed.generation() != before), "no delivery within 1 s"
    assert full_answer(fast, url, **BROTLI)["X-Page-Cache"] == "miss"


def _kill(feed, backend: str) -> None:
    if backend == "redis":
        import redis

        host, port = feed._pubsub.connection._sock.getsockname()[:2]
        redis.Redis.from_url(REDIS_URL).client_kill(f"{host}:{port}")
    else:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [feed._connection.info.backend_pid])


@pytest.mark.parametrize("backend", ["redis", "postgresql"])
def test_a_broken_listener_is_not_trusted_and_answers_stay_correct(
    fast, django_app, settings, monkeypatch, clock, clean_redis, backend
):
    clean_redis.append(use_backend(settings, backend))
    url = InstitutionFactory(name="Broken Feed Exchange").get_absolute_url()
    reads = cache_reads(monkeypatch)
    settled(fast, url, reads)
    feed = version_feed.listener()
    _kill(feed, backend)
    assert wait_for(lambda: not feed.healthy), "the lost connection went unnoticed"
    for _ in range(2):
        answer = read_answer(fast, url, reads)
        assert answer.body == call(django_app, url).body
    clock[0] += version_feed.RETRY_INTERVAL  # listens again, and distrusts what it read while deaf
    read_answer(fast, url, reads)
    assert feed.healthy
    trusted_answer(fast, url, reads)


# --- across processes -------------------------------------------------------------------------------

_OTHER_PROCESS = """
import sys
import django

django.setup()
from django.db import transaction
from profiles import cache, dependencies
from profiles.models import Institution

slug, dek = sys.argv[1:]
with transaction.atomic():
    if dek:  # the database is shared too: the edit itself, announced when it commits
        profile = Institution.objects.get(slug=slug)
        profile.dek = dek
        profile.save()
    else:  # only the cache is shared: the counter move such an edit makes
        cache.retire(dependencies.page_tags(slug))
"""


def _in_another_process(slug: str, dek: str, prefix: str, backend: str) -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "btwprofiles.settings", "DJANGO_TESTING": "1"}
    env["CACHE_KEY_PREFIX"] = prefix
    env.pop("REDIS_URL", None)
    if backend == "redis":
        env["REDIS_URL"] = REDIS_URL
    if connection.vendor == "postgresql":
        params = connection.settings_dict
        env["DATABASE_URL"] = (
            f"postgres://{params['USER']}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}/{params['NAME']}"
        )
    else:
        env["DATABASE_URL"] = "sqlite://:memory:"
    root = Path(__file__).resolve().parent.parent
    subprocess.run([sys.executable, "-c", _OTHER_PROCESS, slug, dek], env=env, cwd=root, check=True, timeout=120)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("backend", ["redis", "postgresql"])
def test_another_processs_committed_edit_is_never_served_stale(settings, monkeypatch, clean_redis, backend):
    from django.core.wsgi import get_wsgi_application

    from btwprofiles.fastpath import FastPath

    prefix = use_backend(settings, backend)
    clean_redis.append(prefix)
    settings.BTW_VERSION_FEED_TRUST = 60.0  # only the feed can tell this process
    fast = FastPath(get_wsgi_application())
    profile = InstitutionFactory(name="Two Process Exchange")
    url = profile.get_absolute_url()
    reads = cache_reads(monkeypatch)
    settled(fast, url, reads)
    assert version_feed.listener().healthy
    shared_database = connection.vendor == "postgresql"
    dek = "Committed by another process." if shared_database else ""
    before = version_feed.generation()
    _in_another_process(profile.slug, dek, prefix, backend)  # returns once committed
    assert wait_for(lambda: version_feed.generation() != before), "no delivery within 1 s of the commit"
    fresh = full_answer(fast, url)
    assert fresh["X-Page-Cache"] == "miss"
    if shared_database:
        assert dek.encode() in fresh.body
