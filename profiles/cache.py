"""The site's caching, both layers, invalidated by one content version.

1. **Page cache** (`cache_anonymous_page`): whole responses for readers who cannot change what a
   page shows — anonymous, no session or messages cookie, GET/HEAD, no staff preview switch.
   Responses that set a cookie (a CSRF token, a session) are never stored.
2. **Fragment layer** (`versioned_get_many` / `store_versioned`): what a page is built from, for
   everyone else — a profile's row and its rendered parts per reader variant (`profile_parts`),
   a directory query's count, ranked order and facet counts (`search`, `facets`), a member's
   followed profiles (`watch`, under that member's own counter). A view asks for every entry it
   needs in one round trip and builds what is missing; templates never touch the cache.

Every entry is stored with the version it was read under and served only while that version is
current. Any change readers could see — a save or delete of a profile model, a moderation
decision, a scheduled profile's publication time passing — bumps the version, so every process
sharing the cache (Redis in production) stops serving the old entries at once. Timeouts come
from settings (`BTW_*_TIMEOUT`); 0 turns a cache off.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import time
import weakref
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpResponse
from django.utils.cache import patch_cache_control, patch_vary_headers

from .models import Institution

VERSION_KEY = "btw:content-version"
SCHEDULE_KEY = "btw:next-publication"
PAGE_KEY = "btw:page:{digest}"
BYPASS_PARAMS = ("as_tier",)
_NO_SCHEDULE = 0.0


def counter_value(key: str) -> int:
    """A version counter's value; a missing one starts at a random value and never expires (entries
    stored under a counter carry its value, so it must outlive them)."""
    value = cache.get(key)
    if value is None:
        cache.add(key, secrets.randbits(62), timeout=None)
        value = cache.get(key)
    return int(value)


def content_version() -> int:
    return counter_value(VERSION_KEY)


def _incr(key: str) -> None:
    try:
        cache.incr(key)
    except ValueError:  # key missing or evicted: any fresh value differs from what entries were stored under
        cache.set(key, secrets.randbits(62), timeout=None)


@functools.lru_cache(maxsize=1024)
def _bumper(key: str):
    """One callable per counter: the commit bump of that counter."""
    return functools.partial(_incr, key)


_bump = _bumper(VERSION_KEY)


class _PendingBump:
    """Registered with `on_commit` right after a counter's commit bump, and held by nothing else.

    Django drops both callbacks together when the transaction, or the savepoint they were registered
    in, rolls back, and after running them at commit; so while a weak reference to this marker is
    alive, that commit bump is still to come and need not be registered again.
    """

    __slots__ = ("__weakref__",)

    def __call__(self) -> None:
        pass


#: (connection, counter key) → the marker of that counter's pending commit bump on that connection.
_pending_bumps: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def bump_counter(key: str) -> None:
    """Move a version counter at once and again when the surrounding transaction commits: a reader
    who reads in between (still seeing the old rows) stores under the first bump, which the second
    retires. However many rows a transaction saves, it registers one commit bump per counter."""
    _incr(key)
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return  # autocommit: the change is visible already, the bump above retires what preceded it
    slot = (connection, key)
    if _pending_bumps.get(slot) is None:
        marker = _PendingBump()
        transaction.on_commit(_bumper(key))
        transaction.on_commit(marker)
        _pending_bumps[slot] = marker


def bump_content_version(**_signal_kwargs) -> None:
    """Invalidate every cached public render (signal receiver and plain function)."""
    bump_counter(VERSION_KEY)


def next_publication_at() -> float:
    """When the next scheduled profile goes live (a timestamp), or 0 when none is scheduled."""
    upcoming = (
        Institution.objects.scheduled()
        .order_by("published_at")
        .values_list("published_at", flat=True)
        .first()
    )
    return upcoming.timestamp() if upcoming else _NO_SCHEDULE


def versioned_get_many(keys: list[str], plain: list[str] = ()) -> tuple[int, dict, dict]:
    """The current content version and the entries of `keys` rendered under it, in one round trip,
    with the values of the `plain` keys as they are (entries kept under another counter).

    Entries are stored as (version, payload) and the schedule mark carries the version it was
    computed for, so one `get_many` answers everything a hit needs. A scheduled profile whose time
    has come bumps the version, which retires every stored page and fragment at once.
    """
    found = cache.get_many([VERSION_KEY, SCHEDULE_KEY, *keys, *plain])
    plain_found = {key: found.pop(key) for key in plain if key in found}
    version = found.pop(VERSION_KEY, None)
    if version is None:
        version = content_version()
    schedule = found.pop(SCHEDULE_KEY, None)
    if schedule is None:
        # The mark is gone (evicted, or a fresh cache): a publication time may have passed unseen
        # since entries were stored, so retire them all rather than trust them.
        bump_content_version()
        version, found = content_version(), {}
    if schedule is None or schedule[0] != version:
        schedule = (version, next_publication_at())
        cache.set(SCHEDULE_KEY, schedule, timeout=None)  # replaced with the version, never expired
    if schedule[1] and time.time() >= schedule[1]:
        bump_content_version()
        return content_version(), {}, plain_found
    return version, {key: entry[1] for key, entry in found.items() if entry[0] == version}, plain_found


def _is_shareable(request) -> bool:
    if request.method not in ("GET", "HEAD"):
        return False
    if not settings.BTW_PAGE_CACHE_TIMEOUT:
        return False
    if settings.SESSION_COOKIE_NAME in request.COOKIES or "messages" in request.COOKIES:
        return False
    if any(param in request.GET for param in BYPASS_PARAMS):
        return False
    return not request.user.is_authenticated


def _key(request) -> str:
    digest = hashlib.sha256(request.build_absolute_uri().encode()).hexdigest()[:32]
    return PAGE_KEY.format(digest=digest)


def cache_anonymous_page(view):
    """Serve anonymous public renders from the shared cache; everyone else gets a fresh render."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not _is_shareable(request):
            return view(request, *args, **kwargs)
        key = _key(request)
        version, found, _ = versioned_get_many([key])
        hit = found.get(key)
        if hit is not None:
            status, content_type, content = hit
            response = HttpResponse(content, content_type=content_type, status=status)
            response["X-Page-Cache"] = "hit"
        else:
            response = view(request, *args, **kwargs)
            if hasattr(response, "render") and callable(response.render):
                response = response.render()
            if response.status_code == 200 and not response.cookies and not response.streaming:
                stored = (response.status_code, response["Content-Type"], response.content)
                store_versioned(key, version, stored, settings.BTW_PAGE_CACHE_TIMEOUT)
                response["X-Page-Cache"] = "miss"
            else:
                return response
        patch_cache_control(response, public=True, max_age=settings.BTW_PAGE_SHARED_MAX_AGE)
        patch_vary_headers(response, ["Cookie"])
        return response

    return wrapped


def store_versioned(key: str, version: int, payload, timeout: int) -> None:
    """Keep a rendered page or fragment, a row a page is built from or a computed listing under the
    content version it was read in: `versioned_get_many` returns it only while that version is current."""
    cache.set(key, (version, payload), timeout)
