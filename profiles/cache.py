"""The site's caching, both layers, invalidated by one content version.

1. **Page cache** (`cache_anonymous_page`): whole responses for readers who cannot change what a
   page shows — anonymous, no session or messages cookie, GET/HEAD, no staff preview switch.
   Responses that set a cookie (a CSRF token, a session) are never stored.
2. **Fragment layer** (`versioned_get_many` / `store_versioned`): what a page is built from, for
   everyone else — a profile's row and its rendered parts per reader variant (`profile_parts`),
   a directory query's count, ranked order and facet counts (`search`, `facets`), a member's
   followed profiles (`watch`, under that member's own counter). A view asks for every entry it
   needs in one round trip and builds what is missing; templates never touch the cache.

Every entry is stored with the versions of the **dependency tags** it was read under and served only
while each is current (`profiles.dependencies` names them: `site`, `lists`, `p:<slug>`). A change
readers could see moves the tags of what shows it — a profile's edit retires its own pages and
fragments, its neighbours' and the lists, not the rest of the site; a tier, a sector or a scheduled
profile's time passing moves `site`, which retires everything — so every process sharing the cache
(Redis in production) stops serving the old entries at once. Every change also moves the global
**content version**, which the API's ETags read. Timeouts come from settings (`BTW_*_TIMEOUT`); 0
turns a cache off.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import time
import weakref
from dataclasses import dataclass
from functools import wraps
from urllib.parse import urlencode

import brotli
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.db import transaction
from django.db.models.signals import post_delete
from django.http import HttpResponse
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.text import compress_string

from . import dependencies, purge, version_feed
from .dependencies import SITE
from .models import Institution

VERSION_KEY = "btw:content-version"
TAG_KEY = "btw:tag:{}"
SCHEDULE_KEY = "btw:next-publication"
PAGE_KEY = "btw:page:v3:{digest}"  # v3: (status, headers, body, encodings, etag)
#: Parameters whose pages are rendered for one request, never read from or stored in the page cache: the staff
#: tier switch, and a profile's "as of" view (its page is not the live page the path's key holds).
BYPASS_PARAMS = ("as_tier", "as_of")
#: Longest query string (of understood parameters) a stored page may be keyed by; longer ones are rendered, not stored.
MAX_KEY_QUERY = 256
#: Headers the page cache sets itself (per response) rather than replaying from the stored render.
_NOT_REPLAYED = frozenset({"cache-control", "vary", "set-cookie", "content-length", "content-encoding", "etag"})
#: Brotli quality for a stored page: on the demo profile (9.9 KB of HTML) 5 gives 2,557 bytes in 0.2 ms,
#: 11 gives 2,215 in 10.7 ms, gzip 2,845 (bench figures on this machine): 5 keeps a miss cheap.
BROTLI_QUALITY = 5
#: Encodings a stored page carries, in the order they are preferred when a reader accepts several.
_ENCODINGS = (
    ("br", re.compile(r"\bbr\b"), lambda body: brotli.compress(body, quality=BROTLI_QUALITY)),
    ("gzip", re.compile(r"\bgzip\b"), compress_string),
)
_NO_SCHEDULE = 0.0


def create_cache_table(using: str = "default", **_signal_kwargs) -> None:
    """pre_migrate receiver: without Redis the shared cache is a database table (settings.CACHES),
    and migrations' own saves already bump the content version kept in it, so the table is made
    (if missing; nothing otherwise) before any migration runs. A plain `migrate` is then enough."""
    call_command("createcachetable", database=using, verbosity=0)


def counter_value(key: str) -> int:
    """A version counter's value; a missing one starts at a random value and never expires (entries
    stored under a counter carry its value, so it must outlive them)."""
    value = cache.get(key)
    if value is None:
        cache.add(key, secrets.randbits(62), timeout=None)
        value = cache.get(key)
    if value is None:  # the cache is unreachable and drops writes: a value no stored entry carries
        value = secrets.randbits(62)
    return int(value)


def content_version() -> int:
    return counter_value(VERSION_KEY)


def tag_key(tag: str) -> str:
    return TAG_KEY.format(tag)


def _incr(*keys: str) -> None:
    """Move counters to fresh random values with one plain write. Not `cache.incr`: on the database
    cache (and locmem) that is a get then a set, and two bumps racing could both write v+1 — a value
    a reader may have read between them and stored pre-change entries under, which would then stay
    current. A fresh value was never read by anyone, whichever write lands last; a missing or
    evicted counter is simply set."""
    cache.set_many({key: secrets.randbits(62) for key in keys}, timeout=None)
    version_feed.announce(keys)  # processes that trust the versions they read stop at once


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


def bump_counters(keys) -> None:
    """Move version counters at once and again when the surrounding transaction commits: a reader
    who reads in between (still seeing the old rows) stores under the first bump, which the second
    retires. However many rows a transaction saves, it registers one commit bump per counter."""
    keys = tuple(dict.fromkeys(keys))
    _incr(*keys)
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return  # autocommit: the change is visible already, the bump above retires what preceded it
    new = tuple(key for key in keys if _pending_bumps.get((connection, key)) is None)
    if new:
        marker = _PendingBump()
        transaction.on_commit(functools.partial(_incr, *new))
        transaction.on_commit(marker)
        for key in new:
            _pending_bumps[(connection, key)] = marker


def bump_counter(key: str) -> None:
    bump_counters([key])


def retire(tags) -> None:
    """Retire the cached renders that depend on any of `tags` (and move the content version); a CDN
    in front is told to drop them once the change commits (`profiles.purge`)."""
    tags = tuple(tags)
    bump_counters([VERSION_KEY, *map(tag_key, tags)])
    purge.after_commit(tags)


def bump_content_version(**_signal_kwargs) -> None:
    """Invalidate every cached public render (signal receiver and plain function)."""
    retire([SITE])


def retire_dependents(sender, instance, created=False, update_fields=None, **signal_kwargs) -> None:
    """post_save / post_delete receiver: retire what shows the row (`profiles.dependencies`), or
    everything for a row it cannot place."""
    deleted = signal_kwargs.get("signal") is post_delete
    tags = dependencies.tags_for(instance, created=created, update_fields=update_fields, deleted=deleted)
    retire(tags if tags is not None else [SITE])


def retire_profile_m2m(sender, instance, action, **_signal_kwargs) -> None:
    """m2m_changed of a profile's sectors: its pages and the lists (a sector's own rows move `site`)."""
    if action.startswith("post_"):
        if isinstance(instance, Institution):
            retire(dependencies.page_tags(instance.slug)[1:] + (dependencies.LISTS,))
        else:
            bump_content_version()


def next_publication_at() -> float:
    """When the next scheduled profile goes live (a timestamp), or 0 when none is scheduled."""
    upcoming = (
        Institution.objects.scheduled()
        .order_by("published_at")
        .values_list("published_at", flat=True)
        .first()
    )
    return upcoming.timestamp() if upcoming else _NO_SCHEDULE


def current_versions(found: dict, tag_keys) -> tuple | None:
    """The tag versions a stored entry must carry, from one `get_many` answer, or None when the answer
    cannot be trusted as it is — a counter or the schedule mark missing, a mark computed for another
    content version, a scheduled publication due — and `versioned_get_many` must repair it first.
    The WSGI fast path (`btwprofiles.fastpath`) answers only when this says yes."""
    content = found.get(VERSION_KEY)
    schedule = found.get(SCHEDULE_KEY)
    if content is None or schedule is None or schedule[0] != content:
        return None
    if schedule[1] and time.time() >= schedule[1]:
        return None
    version = tuple(found.get(key) for key in tag_keys)
    return None if None in version else version


def versioned_get_many(keys: list[str], plain: list[str] = (), tags=None) -> tuple:
    """The current version and the entries of `keys` rendered under it, in one round trip, with the
    values of the `plain` keys as they are (entries kept under another counter).

    The version is that of `tags` (a tuple of their counters) when given, else the content version
    (what the API's ETags read). Entries are stored as (version, payload) and the schedule mark
    carries the content version it was computed for, so one `get_many` answers everything a hit
    needs. A scheduled profile whose time has come moves `site`, retiring every page and fragment.
    """
    tag_keys = [tag_key(tag) for tag in tags] if tags else []
    found = cache.get_many([VERSION_KEY, SCHEDULE_KEY, *tag_keys, *keys, *plain])
    plain_found = {key: found.pop(key) for key in plain if key in found}
    trusted = current_versions(found, tag_keys) if tags else None
    if trusted is not None:  # the common case: nothing to repair
        entries = {key: entry[1] for key in keys if (entry := found.get(key)) and entry[0] == trusted}
        return trusted, entries, plain_found
    content = found.pop(VERSION_KEY, None)
    if content is None:
        content = content_version()
    counters = [found.pop(key, None) for key in tag_keys]
    schedule = found.pop(SCHEDULE_KEY, None)
    if schedule is None:
        # The mark is gone (evicted, or a fresh cache): a publication time may have passed unseen
        # since entries were stored, so retire them all rather than trust them.
        bump_content_version()
        content, found, counters = content_version(), {}, [None] * len(tag_keys)
    if schedule is None or schedule[0] != content:
        schedule = (content, next_publication_at())
        cache.set(SCHEDULE_KEY, schedule, timeout=None)  # replaced with the version, never expired
    if schedule[1] and time.time() >= schedule[1]:
        bump_content_version()
        content, found, counters = content_version(), {}, [None] * len(tag_keys)
    if tags:
        version = tuple(
            value if value is not None else counter_value(key) for key, value in zip(tag_keys, counters, strict=True)
        )
    else:
        version = content
    return version, {key: entry[1] for key, entry in found.items() if entry[0] == version}, plain_found


def entries_of(keys: list[str], version) -> dict:
    """The entries of `keys` stored under `version` (a second look after `versioned_get_many`, in the
    version it returned)."""
    return {key: entry[1] for key, entry in cache.get_many(keys).items() if entry[0] == version}


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


def _understood_query(request, params: tuple[str, ...]) -> str:
    """The query string of the parameters the page understands, in the order it declares them."""
    if not params or not request.GET:
        return ""
    return urlencode([(name, value) for name in params for value in request.GET.getlist(name)])


def page_key(path: str, query: str = "") -> str:
    """One page per path and understood query. Not per scheme or host: every address a shared page
    shows comes from `siteurl`, so each allowed host name (or http behind a proxy) would only store
    the same bytes again (tests/test_shared_renders.py). The WSGI fast path keys by this too."""
    url = f"{path}?{query}"
    return PAGE_KEY.format(digest=hashlib.sha256(url.encode()).hexdigest()[:32])


def _key(request, query: str = "") -> str:
    return page_key(request.path, query)


def _stored_render(response) -> tuple:
    """What a hit replays: status, every header the view set (but those the cache sets per response),
    the body, the body brotli- and gzip-compressed once here (an encoding that would not pay is left
    out) and a strong ETag from the body, hashed once here. Hits never hash or compress.

    Brotli is offered for these public, anonymous pages only: they hold no secret and reflect no
    reader input, so BREACH has nothing to recover; every other response keeps Django's gzip with
    its random padding (settings, MIDDLEWARE)."""
    body = response.content
    etag = response.get("ETag") or f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    encodings = ()
    if len(body) >= 200:
        encoded = ((name, compress(body)) for name, _accepts, compress in _ENCODINGS)
        encodings = tuple((name, data) for name, data in encoded if len(data) < len(body))
    headers = tuple((name, value) for name, value in response.items() if name.lower() not in _NOT_REPLAYED)
    return (response.status_code, headers, body, encodings, etag)


def preferred_encoding(accepted: str, encodings: tuple):
    """(name, bytes) of the first stored encoding the reader's Accept-Encoding takes, or (None, None)."""
    available = dict(encodings)
    for name, accepts, _compress in _ENCODINGS:
        if name in available and accepts.search(accepted):
            return name, available[name]
    return None, None


def encoded_etag(etag: str, encoding: str | None) -> str:
    """A strong validator names one representation: an encoded body's bytes differ, so does its ETag."""
    return f'{etag[:-1]}-{encoding}"' if encoding else etag


@dataclass(frozen=True)
class PageEntry:
    """Where a shared page lives in the cache: what the WSGI fast path (`btwprofiles.fastpath`) learns
    from a response of the full path, to answer the next request for the same address itself."""

    key: str
    tags: tuple[str, ...]


def surrogate_keys(tags) -> dict[str, str]:
    """The response headers that name a page's dependency tags to a CDN: `Surrogate-Key` (Fastly;
    Varnish's VCL copies it to xkey) and `Cache-Tag` (Cloudflare). `profiles.purge` purges by them."""
    return {"Surrogate-Key": " ".join(tags), "Cache-Tag": ",".join(tags)}


def _replay(request, stored: tuple, state: str, entry: PageEntry) -> HttpResponse:
    status, headers, body, encodings, etag = stored
    encoding, encoded = preferred_encoding(request.META.get("HTTP_ACCEPT_ENCODING", ""), encodings)
    if encoding:
        response = HttpResponse(encoded, status=status)
        response.headers["Content-Encoding"] = encoding
        etag = encoded_etag(etag, encoding)
    else:
        response = HttpResponse(body, status=status)
    for name, value in headers:
        response.headers[name] = value
    response.headers["ETag"] = etag
    response.headers["X-Page-Cache"] = state
    for name, value in surrogate_keys(entry.tags).items():
        response.headers[name] = value
    response.page_entry = entry
    patch_cache_control(response, public=True, max_age=settings.BTW_PAGE_SHARED_MAX_AGE)
    patch_vary_headers(response, ["Cookie", "Accept-Encoding"])
    return response


def cache_anonymous_page(view, *, params: tuple[str, ...] = (), tags=None):
    """Serve anonymous public renders from the shared cache; everyone else gets a fresh render.

    `tags(kwargs)` names the dependency tags of the page at that address (`profiles.dependencies`:
    one profile's pages, `by_profile`; by default the lists), whose versions the stored render
    carries and must match to be served.

    `params` are the query parameters the page understands (the directory's filters, text query and
    page, the sitemap's page; none for a profile) and they alone form the page's key, in the order
    declared. Any other parameter (`?utm=…`, `?fbclid=…`) is ignored for caching: such a request is
    served the canonical page when it is stored (identical bytes: the page reads no other
    parameter), and on a miss it is rendered for that reader alone and stored for nobody, because
    its render carries its own address (a sign-in link's ?next=). So a thousand junk query strings
    add no key, and a page is only ever stored from an address that names exactly what it shows.
    An understood query longer than MAX_KEY_QUERY is rendered but not stored.

    A hit is one cache round trip: the stored render comes back with its headers, its brotli or
    gzipped body (the first the reader accepts; Django's GZipMiddleware leaves an encoded response alone)
    and its ETag, which ConditionalGetMiddleware answers with 304.
    """

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not _is_shareable(request):
            return view(request, *args, **kwargs)
        query = _understood_query(request, params)
        if len(query) > MAX_KEY_QUERY:
            return view(request, *args, **kwargs)
        key = _key(request, query)
        entry = PageEntry(key, tuple(page_tags_of(kwargs)))
        version, found, _ = versioned_get_many([key], tags=entry.tags)
        hit = found.get(key)
        if hit is not None:
            return _replay(request, hit, "hit", entry)
        response = view(request, *args, **kwargs)
        if any(name not in params for name in request.GET):
            return response  # rendered from an address with more in it than the key: for this reader only
        if hasattr(response, "render") and callable(response.render):
            response = response.render()
        if response.status_code != 200 or response.cookies or response.streaming:
            return response
        stored = _stored_render(response)
        store_versioned(key, version, stored, settings.BTW_PAGE_CACHE_TIMEOUT)
        return _replay(request, stored, "miss", entry)

    page_tags_of = tags or (lambda kwargs: dependencies.page_tags())
    return wrapped


def by_profile(kwargs) -> tuple[str, ...]:
    """The tags of a page of one profile, named by the `slug` of its address."""
    return dependencies.page_tags(kwargs["slug"])


def store_versioned(key: str, version: int, payload, timeout: int) -> None:
    """Keep a rendered page or fragment, a row a page is built from or a computed listing under the
    content version it was read in: `versioned_get_many` returns it only while that version is current."""
    cache.set(key, (version, payload), timeout)
