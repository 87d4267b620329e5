"""The WSGI fast path (btwprofiles/fastpath.py): anonymous page-cache hits answered before Django, with
exactly the full path's headers, and never anything the full path would not send.

The test client does not go through wsgi.py, so these tests call the WSGI application itself with real
environs (`wsgiref.util.setup_testing_defaults`): `FastPath` around Django's own WSGIHandler, and a
second, plain WSGIHandler as the reference for what the full path answers.
"""

import uuid
from urllib.parse import urlsplit
from wsgiref.util import setup_testing_defaults

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from btwprofiles.fastpath import FastPath
from membership.models import Tier
from profiles.cache import SCHEDULE_KEY, VERSION_KEY

from .factories import BriefingFactory, EvidenceItemFactory, InstitutionFactory, tier
from .factories_membership import alliance_member

pytestmark = pytest.mark.django_db

BROTLI = {"HTTP_ACCEPT_ENCODING": "gzip, deflate, br"}
GZIP = {"HTTP_ACCEPT_ENCODING": "gzip, deflate"}
IDENTITY = {}
ENCODINGS = {"br": BROTLI, "gzip": GZIP, "identity": IDENTITY}


class Answer:
    def __init__(self, status: str, headers: list, body: bytes):
        self.status, self.headers, self.body = status, headers, body
        self.code = int(status.split()[0])

    def __getitem__(self, name: str) -> str:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        assert len(values) == 1, (name, self.headers)
        return values[0]

    def get(self, name: str):
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return values[0] if values else None

    def header_set(self) -> list:
        return sorted((name.lower(), value) for name, value in self.headers)


def call(app, url: str, *, method: str = "GET", **environ) -> Answer:
    """One request through a WSGI application, as a WSGI server makes it."""
    parts = urlsplit(url)
    env = {"REQUEST_METHOD": method, "PATH_INFO": parts.path, "QUERY_STRING": parts.query, **environ}
    setup_testing_defaults(env)
    seen = []
    result = app(env, lambda status, headers, exc_info=None: seen.extend((status, headers)))
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return Answer(seen[0], list(seen[1]), body)


@pytest.fixture(autouse=True)
def _inside_the_test_transaction():
    """Django closes the database connection when a request starts and finishes; the test client stops
    that to keep the test's transaction, and so do these tests."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fast():
    return FastPath(get_wsgi_application())


@pytest.fixture
def django_app():
    """The full path alone: what every answer of the fast path is compared with."""
    return get_wsgi_application()


def fast_answer(app: FastPath, url: str, **environ) -> Answer:
    """A request the fast path must answer itself."""
    before = app.answered
    answer = call(app, url, **environ)
    assert app.answered == before + 1, f"{url} went to the full path"
    return answer


def full_answer(app: FastPath, url: str, **environ) -> Answer:
    """A request the fast path must hand to the full path."""
    before = app.answered
    answer = call(app, url, **environ)
    assert app.answered == before, f"{url} was answered by the fast path"
    return answer


def learn(app: FastPath, url: str, **environ) -> None:
    """The first request learns the address, the next the full path's headers for it."""
    assert call(app, url, **environ).code == 200
    assert call(app, url, **environ).code == 200


# --- answered before the framework ------------------------------------------------------------------


def test_an_anonymous_hit_is_answered_without_django_once_learned(fast):
    url = InstitutionFactory(name="Fast Exchange").get_absolute_url()
    first = full_answer(fast, url)
    assert first["X-Page-Cache"] == "miss"
    second = full_answer(fast, url)  # address known; the full path's headers are learned from this one
    assert second["X-Page-Cache"] == "hit"
    third = fast_answer(fast, url)
    assert third.code == 200 and third["X-Page-Cache"] == "hit" and b"Fast Exchange" in third.body
    assert third.body == second.body


def pages(profile) -> list[str]:
    slug = {"slug": profile.slug}
    return [
        reverse("profiles:detail", kwargs=slug),
        reverse("profiles:map", kwargs=slug),
        reverse("profiles:changes", kwargs=slug),
        reverse("profiles:directory"),
        reverse("profiles:directory") + "?q=exchange",
        reverse("home"),
        reverse("feed_rss"),
        reverse("feed_profile", kwargs=slug),
        reverse("sitemap"),
    ]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_fast_answers_carry_exactly_the_full_paths_headers_and_bytes(fast, django_app, encoding):
    profile = InstitutionFactory(name="Header Exchange")
    EvidenceItemFactory(institution=profile, title="Dated source", reviewed_at=timezone.now())
    accept = ENCODINGS[encoding]
    for url in pages(profile):
        learn(fast, url, **GZIP)  # learned under another encoding than the one compared
        answer = fast_answer(fast, url, **accept)
        reference = call(django_app, url, **accept)
        assert reference["X-Page-Cache"] == "hit"
        assert (answer.status, answer.header_set(), answer.body) == (
            reference.status, reference.header_set(), reference.body
        ), url
        assert (answer.get("Content-Encoding") or "identity") == encoding, url

        head = fast_answer(fast, url, method="HEAD", **accept)
        reference_head = call(django_app, url, method="HEAD", **accept)
        assert (head.status, head.header_set()) == (reference_head.status, reference_head.header_set()), url
        assert head.body == b""


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_a_matching_if_none_match_is_answered_304_as_django_would(fast, django_app, encoding):
    profile = InstitutionFactory()
    accept = ENCODINGS[encoding]
    for url in pages(profile):
        learn(fast, url, **accept)
        etag = fast_answer(fast, url, **accept)["ETag"]
        conditional = {**accept, "HTTP_IF_NONE_MATCH": etag}
        call(fast, url, **conditional)  # learns the full path's 304 headers
        answer = fast_answer(fast, url, **conditional)
        reference = call(django_app, url, **conditional)
        assert reference.code == 304
        assert (answer.status, answer.header_set(), answer.body) == (
            reference.status, reference.header_set(), reference.body
        ), url
        assert fast_answer(fast, url, **{**accept, "HTTP_IF_NONE_MATCH": '"another"'}).code == 200
        head = fast_answer(fast, url, method="HEAD", **conditional)  # Django revalidates GET only
        assert head.code == call(django_app, url, method="HEAD", **conditional).code == 200


def test_over_https_the_fast_path_sends_hsts_as_the_full_path_does(settings):
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    fast, django_app = FastPath(get_wsgi_application()), get_wsgi_application()
    url = InstitutionFactory().get_absolute_url()
    secure = {"HTTP_X_FORWARDED_PROTO": "https"}
    learn(fast, url, **secure)
    answer = fast_answer(fast, url, **secure)
    assert answer.header_set() == call(django_app, url, **secure).header_set()
    assert answer["Strict-Transport-Security"] == "max-age=3600"
    learn(fast, url)  # plain http learns its own headers: no HSTS there
    assert fast_answer(fast, url).get("Strict-Transport-Security") is None


# --- never anything the full path would not send ----------------------------------------------------


@pytest.fixture
def planted(secret):
    """A profile with members-only text (tests/test_no_leak.py's planting, shortened)."""
    alliance = tier(Tier.LEADERSHIP_ALLIANCE_SLUG)
    profile = InstitutionFactory(name="Fast Leak Exchange")
    BriefingFactory(
        institution=profile, title="Alliance context", body=f"Alliance body {secret}.", required_tier=alliance
    )
    EvidenceItemFactory(
        institution=profile, title=f"Evidence title {secret}", required_tier=alliance, reviewed_at=timezone.now()
    )
    return profile


def session_cookie(user) -> dict:
    client = Client()
    client.force_login(user)
    return {"HTTP_COOKIE": f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"}


def test_the_fast_path_never_serves_members_only_text(fast, planted, secret):
    slug = {"slug": planted.slug}
    urls = [
        reverse("profiles:detail", kwargs=slug),
        reverse("profiles:map", kwargs=slug),
        reverse("profiles:changes", kwargs=slug),
        reverse("feed_profile", kwargs=slug),
        reverse("feed_rss"),
        reverse("home"),
    ]
    for url in urls:
        learn(fast, url)
        for accept in ENCODINGS.values():
            answer = fast_answer(fast, url, **accept)
            assert secret.encode() not in answer.body and secret not in str(answer.headers), url
    assert secret.encode() not in fast_answer(fast, urls[0]).body

    # Present where it should be: an alliance member, through the same application, gets it from the full path.
    member = full_answer(fast, urls[0], **session_cookie(alliance_member()))
    assert secret.encode() in member.body and member.get("X-Page-Cache") is None


def test_a_signed_in_reader_always_gets_the_full_path(fast):
    url = InstitutionFactory().get_absolute_url()
    learn(fast, url)
    fast_answer(fast, url)
    cookie = session_cookie(alliance_member())
    for _ in range(3):
        answer = full_answer(fast, url, **cookie)
        assert answer.get("X-Page-Cache") is None and "private" in answer["Cache-Control"]
    full_answer(fast, url, HTTP_COOKIE="messages=anything")
    full_answer(fast, url, HTTP_AUTHORIZATION="Token abc")
    fast_answer(fast, url, HTTP_COOKIE="csrftoken=abc")  # a cookie that changes nothing: still answered


def test_staff_switches_and_junk_parameters_are_never_learned(fast, settings):
    profile = InstitutionFactory()
    url = profile.get_absolute_url()
    learn(fast, url)
    today = timezone.now().date().isoformat()
    for query in ("as_tier=public", f"as_of={today}", "utm_source=mail", "q=&as_tier=public"):
        for _ in range(3):
            full_answer(fast, f"{url}?{query}")
    directory = reverse("profiles:directory")
    for _ in range(3):
        full_answer(fast, f"{directory}?fbclid=x")
    assert set(fast.addresses) == {("", url, "")}


def test_an_edit_sends_that_profile_to_the_full_path_and_keeps_another_fast(fast):
    a, b = InstitutionFactory(name="Alpha Fast"), InstitutionFactory(name="Beta Fast")
    for profile in (a, b):
        learn(fast, profile.get_absolute_url())
        fast_answer(fast, profile.get_absolute_url())
    a.dek = "A new standfirst for Alpha."
    a.save()
    fresh = full_answer(fast, a.get_absolute_url())
    assert fresh["X-Page-Cache"] == "miss" and b"A new standfirst for Alpha." in fresh.body
    assert fast_answer(fast, b.get_absolute_url())["X-Page-Cache"] == "hit"
    full_answer(fast, a.get_absolute_url())  # the process's copy of the old page is seen retired and dropped
    full_answer(fast, a.get_absolute_url())  # its headers were retired with the page: learned again
    assert b"A new standfirst for Alpha." in fast_answer(fast, a.get_absolute_url()).body


def test_a_publication_time_passed_or_a_missing_mark_goes_to_the_full_path(fast, settings):
    # The marks are rewritten here behind the version feed's back (in production a new mark follows an
    # announced bump): this is the path that reads the versions (tests/test_version_feed.py has the other).
    settings.BTW_VERSION_FEED = False
    url = InstitutionFactory().get_absolute_url()
    learn(fast, url)
    fast_answer(fast, url)
    cache.set(SCHEDULE_KEY, (cache.get(VERSION_KEY), timezone.now().timestamp() - 1), timeout=None)
    assert full_answer(fast, url)["X-Page-Cache"] == "miss"  # the full path retired everything
    cache.delete(SCHEDULE_KEY)
    assert full_answer(fast, url)["X-Page-Cache"] == "miss"


def test_refused_hosts_and_https_redirects_go_to_the_full_path(fast, settings):
    url = InstitutionFactory().get_absolute_url()
    learn(fast, url)
    assert full_answer(fast, url, HTTP_HOST="evil.example").code == 400
    fast_answer(fast, url, HTTP_HOST="localhost:8000")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    redirecting = FastPath(get_wsgi_application())
    learn(redirecting, url, HTTP_X_FORWARDED_PROTO="https")
    fast_answer(redirecting, url, HTTP_X_FORWARDED_PROTO="https")
    assert full_answer(redirecting, url).code == 301


def test_a_process_remembers_a_bounded_number_of_addresses():
    fast = FastPath(get_wsgi_application(), size=2)
    urls = [InstitutionFactory().get_absolute_url() for _ in range(3)]
    for url in urls:
        call(fast, url)
    assert [path for _script, path, _query in fast.addresses] == urls[1:]


def test_a_process_keeps_a_bounded_number_of_page_bytes(fast):
    urls = [InstitutionFactory().get_absolute_url() for _ in range(4)]
    learn(fast, urls[0])
    fast_answer(fast, urls[0])
    fast.page_memory = budget = int(fast.page_bytes * 2.5)  # room for two pages of this size
    for url in urls[1:]:
        learn(fast, url)
        fast_answer(fast, url)
        assert 0 < fast.page_bytes == sum(page.size for page in fast.pages.values()) <= budget
    assert len(fast.pages) == 2
    for url in urls:  # a page no longer held is read from the shared cache again
        assert fast_answer(fast, url)["X-Page-Cache"] == "hit"


DATABASE_CACHE = {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "btw_cache"}


def _redis_cache(settings):
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    prefix = f"fastpath-test-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {
            "BACKEND": "btwprofiles.redis_cache.ResilientRedisCache",
            "LOCATION": "redis://127.0.0.1:6379/7",
            "KEY_PREFIX": prefix,
        },
        "durable": DATABASE_CACHE,
    }
    return prefix


@pytest.mark.parametrize("backend", ["database", "redis"])
def test_the_fast_path_answers_from_the_shared_cache_backends(settings, backend):
    prefix = None
    if backend == "redis":
        prefix = _redis_cache(settings)
    else:
        settings.CACHES = {"default": DATABASE_CACHE}
    try:
        fast, django_app = FastPath(get_wsgi_application()), get_wsgi_application()
        a, b = InstitutionFactory(name="Shared Alpha"), InstitutionFactory(name="Shared Beta")
        for profile in (a, b):
            learn(fast, profile.get_absolute_url(), **BROTLI)
            answer = fast_answer(fast, profile.get_absolute_url(), **BROTLI)
            reference = call(django_app, profile.get_absolute_url(), **BROTLI)
            assert (answer.header_set(), answer.body) == (reference.header_set(), reference.body)
        a.dek = "Shared and edited."
        a.save()
        assert full_answer(fast, a.get_absolute_url())["X-Page-Cache"] == "miss"
        fast_answer(fast, b.get_absolute_url())
    finally:
        if prefix:
            import redis

            client = redis.Redis.from_url("redis://127.0.0.1:6379/7")
            for key in client.scan_iter(match=f"{prefix}:*"):
                client.delete(key)
