"""The WSGI fast path: anonymous page-cache hits answered before Django does any work.

A cached anonymous page (`profiles.cache.cache_anonymous_page`) is the same bytes for every reader who
cannot change it, yet the full path builds a request object, resolves the URL and runs every middleware
before the page cache even looks. `FastPath(app)` wraps the WSGI application and answers such a
request itself, with at most one cache round trip and exactly the headers the full path would send:

- **Learn.** When the full path answers an address with a stored page (its response carries
  `page_entry`), the address (SCRIPT_NAME, PATH_INFO, QUERY_STRING) is remembered in a bounded
  per-process LRU — only when that exact address is what the page's key was computed from, so junk
  parameters and staff switches (`as_tier`, `as_of`) are never learned. The header list the full path
  sent for a page (as `start_response` saw it, less the per-response headers) is kept in the shared
  cache next to the page, under the same dependency-tag versions: a change retires it with the page,
  so a deploy that sends other headers is relearned after the next change. It is learned from the
  full path's answer to a request the fast path could not finish for want of it, and only when that
  answer is the very representation the fast path would have sent (same ETag).
- **Answer.** A GET or HEAD without a session or messages cookie or Authorization, for an allowed host,
  not redirected to HTTPS, at a learned address: one `get_many` of the content version, the schedule
  mark and the page's tag counters, with the page and its header list when the process does not hold
  them for those versions already. Everything must validate as in `profiles.cache.versioned_get_many`;
  on any doubt (a missing mark or counter, a publication time passed, missing headers, an unusual
  precondition) the request goes to the full path, which repairs what is missing. The fast path never
  writes to the cache.
- **A copy per process.** A page read from the shared cache is kept (bounded by PAGE_MEMORY bytes) with
  the versions it was stored under, and served again only while the counters read for that very
  request still equal them: the same test the shared entry passes, without moving 40 KB through the
  cache client (base64 and a database row with the database cache) on every hit. A change moves the
  counters in the shared cache, so every process drops its copy on its next request.
- **No round trip while nothing moved.** With the version feed on (`profiles.version_feed`), each learned
  address remembers the versions, schedule mark and feed generation of its last successful read. While
  the feed vouches for them (no counter move announced since, its listener healthy, the read younger
  than BTW_VERSION_FEED_TRUST) and the mark's publication time has not come, a held page copy with its
  learned headers is answered with no cache call at all. Anything else reads as above.

The rules a request must pass mirror what the full path checks before the page cache would answer
(SecurityMiddleware's HTTPS redirect, CommonMiddleware's host validation and user-agent and `www`
rules, ConditionalGetMiddleware's revalidation, GZipMiddleware leaving encoded bodies alone). The
settings they read are copied into one object (`_Rules`), replaced whenever a setting changes
(`override_settings`), so a request costs no settings lookups and no Django request object.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.cache import caches
from django.core.handlers.wsgi import get_path_info, get_script_name
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http.request import split_domain_port, validate_host
from django.middleware.gzip import re_accepts_gzip
from django.utils.cache import _if_none_match_passes
from django.utils.http import parse_etags

from profiles import cache as page_cache
from profiles import version_feed

logger = logging.getLogger(__name__)

#: Addresses a process remembers (least recently answered forgotten first), some 0.5 KB each.
LEARNED_ADDRESSES = 20_000
#: Bytes of pages (bodies and their encodings) a process keeps for the versions it last saw them under.
PAGE_MEMORY = 32 * 2**20
#: Headers set per response, never learned: the fast path sets those it sends itself.
PER_RESPONSE = frozenset({"content-length", "content-encoding", "etag", "date", "x-page-cache", "set-cookie"})
#: The localhost names Django allows when DEBUG is on and ALLOWED_HOSTS is empty (HttpRequest.get_host).
_DEBUG_HOSTS = (".localhost", "127.0.0.1", "[::1]")
_SMALL_BODY = 200  # GZipMiddleware leaves shorter bodies alone
_REMEMBERED_HOSTS = 64
_ACCEPTS_GZIP = re.compile(re_accepts_gzip.pattern)  # GZipMiddleware's own test, compiled (not lazily) here


class _Address:
    """A learned address: its page's cache entry and the keys one answer reads (the versions; the page
    and its headers too unless the process holds them for the current versions)."""

    __slots__ = ("entry", "tag_keys", "keys", "read")

    def __init__(self, entry: page_cache.PageEntry):
        self.entry = entry
        self.tag_keys = tuple(page_cache.tag_key(tag) for tag in entry.tags)
        self.keys = (page_cache.VERSION_KEY, page_cache.SCHEDULE_KEY, *self.tag_keys)
        #: The last successful read: (version, publication time or 0, version_feed.mark() before it).
        self.read = None


class _Page:
    """A stored page as the fast path read it from the shared cache, with the tag versions it was
    stored under and the learned header lists found for it so far ((scheme, status) → (status line,
    headers)). Served only while those versions are current, like the shared entry it copies."""

    __slots__ = ("version", "body", "encodings", "etag", "headers", "size")

    def __init__(self, version, stored: tuple):
        _status, _headers, self.body, self.encodings, self.etag = stored
        self.version = version
        self.headers: dict[tuple[str, int], tuple] = {}
        self.size = len(self.body) + sum(len(data) for _name, data in self.encodings)

    def representation(self, accepted: str):
        """(encoding, bytes, ETag) for this Accept-Encoding, as `profiles.cache._replay` chooses; None
        when GZipMiddleware would compress the identity body itself (with its random padding)."""
        encoding, data = page_cache.preferred_encoding(accepted, self.encodings)
        if encoding is not None:
            return encoding, data, page_cache.encoded_etag(self.etag, encoding)
        if len(self.body) >= _SMALL_BODY and _ACCEPTS_GZIP.search(accepted):
            return None
        return None, self.body, self.etag


class _Pending:
    """A request the fast path validated but could not answer for want of the learned headers: the full
    path's answer is learned if it is the representation the fast path would have sent."""

    __slots__ = ("address", "version", "key", "status", "etag")

    def __init__(self, address, version, key, status, etag):
        self.address, self.version, self.key, self.status, self.etag = address, version, key, status, etag


def _still_current(read, version) -> bool:
    """Whether the versions last read at an address are `version` and still vouched for by the version
    feed, with no scheduled publication due since (`current_versions`' test, without the round trip)."""
    if read is None or read[0] != version or not version_feed.trusted(*read[2]):
        return False
    return not read[1] or time.time() < read[1]


def _send(learned, status: int, representation, environ, start_response) -> list:
    status_line, headers = learned
    encoding, data, etag = representation
    if status == 304:
        start_response(status_line, [*headers, ("ETag", etag)])
        return []
    headers = [*headers, ("ETag", etag), ("X-Page-Cache", "hit"), ("Content-Length", str(len(data)))]
    if encoding is not None:
        headers.append(("Content-Encoding", encoding))
    start_response(status_line, headers)
    return [] if environ["REQUEST_METHOD"] == "HEAD" else [data]


def headers_key(page_key: str, scheme: str, status: int) -> str:
    """Where the full path's headers for a page are kept: per scheme (HSTS is sent over HTTPS only) and
    per status (a 304 carries fewer)."""
    return f"{page_key}:headers:{scheme}:{status}"


class FastPath:
    """WSGI middleware: answers anonymous page-cache hits at learned addresses, hands everything else to
    `app` (Django's WSGIHandler) and learns from what it answers."""

    def __init__(self, app, *, size: int = LEARNED_ADDRESSES, page_memory: int = PAGE_MEMORY):
        self.app = app
        self.size = size
        self.page_memory = page_memory
        self.addresses: OrderedDict[tuple[str, str, str], _Address] = OrderedDict()
        self.pages: OrderedDict[str, _Page] = OrderedDict()
        self.page_bytes = 0
        self._pages_lock = threading.Lock()  # threaded workers: the byte count must match what is held
        self.answered = 0  # requests answered here, for tests and curiosity

    def __call__(self, environ, start_response):
        where = (environ.get("SCRIPT_NAME", ""), environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""))
        address = self.addresses.get(where)
        if address is None:
            response = self.app(environ, start_response)
            self._learn_address(where, environ, response)
            return response
        scheme = answerable_scheme(environ)
        if scheme is None:
            return self.app(environ, start_response)
        answer = self._answer(address, scheme, environ, start_response)
        if answer.__class__ is list:
            self.answered += 1
            try:  # noqa: SIM105 - per request: a try is free, contextlib.suppress is not
                self.addresses.move_to_end(where)
                self.pages.move_to_end(address.entry.key)
            except KeyError:  # another thread forgot it meanwhile
                pass
            return answer
        if answer is None:
            return self.app(environ, start_response)
        return self._full_path_learning_headers(answer, environ, start_response)

    # Answering -------------------------------------------------------------------------------------

    def _answer(self, address: _Address, scheme: str, environ, start_response):
        """The response body (a list) when everything validates, a `_Pending` when only the learned
        headers are missing, None otherwise. No cache call when the version feed vouches for the versions
        last read and the process holds the page and its headers; else one `get_many`: the versions, and
        the page and the header list it needs unless this process holds them already (a page copy is
        checked against the versions read now, exactly as the shared entry would be)."""
        page_key = address.entry.key
        accepted = environ.get("HTTP_ACCEPT_ENCODING", "")
        if_none_match = environ.get("HTTP_IF_NONE_MATCH") if environ["REQUEST_METHOD"] == "GET" else None
        page = self.pages.get(page_key)
        keys = list(address.keys)
        if page is None:
            keys.append(page_key)
            keys.append(headers_key(page_key, scheme, 200))
            if if_none_match is not None:
                keys.append(headers_key(page_key, scheme, 304))
        else:
            representation = page.representation(accepted)
            if representation is None:
                return None
            status = 304 if if_none_match is not None and _not_modified(representation[2], if_none_match) else 200
            learned = page.headers.get((scheme, status))
            if learned is None:
                keys.append(headers_key(page_key, scheme, status))
            elif _still_current(address.read, page.version):
                return _send(learned, status, representation, environ, start_response)
        since = version_feed.mark()  # before the read: a move announced during it retires what it reads
        try:
            found = caches["default"].get_many(keys)
        except Exception:  # noqa: BLE001 - the full path meets the same fault and reports it properly
            return None
        version = page_cache.current_versions(found, address.tag_keys)
        if version is None:
            address.read = None
            return None
        address.read = (version, found[page_cache.SCHEDULE_KEY][1], since)
        if page is None:
            stored = found.get(page_key)
            if stored is None or stored[0] != version or stored[1][0] != 200:
                return None
            page = self._keep(page_key, _Page(version, stored[1]))
            representation = page.representation(accepted)
            if representation is None:
                return None
            status = 304 if if_none_match is not None and _not_modified(representation[2], if_none_match) else 200
        elif page.version != version:
            self._forget(page_key)  # retired: the full path renders or finds the current page
            return None
        learned = page.headers.get((scheme, status))
        if learned is None:
            key = headers_key(page_key, scheme, status)
            entry = found.get(key)
            if entry is None or entry[0] != version:
                return _Pending(address, version, key, status, representation[2])
            learned = page.headers[(scheme, status)] = entry[1]
        return _send(learned, status, representation, environ, start_response)

    def _keep(self, page_key: str, page: _Page) -> _Page:
        with self._pages_lock:
            self._drop(page_key)
            if page.size <= self.page_memory:
                self.pages[page_key] = page
                self.page_bytes += page.size
                while self.page_bytes > self.page_memory:
                    _key, oldest = self.pages.popitem(last=False)
                    self.page_bytes -= oldest.size
        return page

    def _forget(self, page_key: str) -> None:
        with self._pages_lock:
            self._drop(page_key)

    def _drop(self, page_key: str) -> None:
        page = self.pages.pop(page_key, None)
        if page is not None:
            self.page_bytes -= page.size

    # Learning --------------------------------------------------------------------------------------

    def _learn_address(self, where, environ, response) -> None:
        entry = getattr(response, "page_entry", None)
        if entry is None or response.status_code != 200 or not _keyed_by(where, environ, entry):
            return
        self.addresses[where] = _Address(entry)
        while len(self.addresses) > self.size:
            try:
                self.addresses.popitem(last=False)
            except KeyError:
                break

    def _full_path_learning_headers(self, pending: _Pending, environ, start_response):
        seen = []

        def capture(status, headers, exc_info=None):
            seen[:] = (status, headers)
            return start_response(status, headers, exc_info)

        response = self.app(environ, capture)
        if seen and _is_expected(pending, response, *seen):
            status_line, headers = seen
            learned = (status_line, tuple((name, value) for name, value in headers if name.lower() not in PER_RESPONSE))
            try:
                page_cache.store_versioned(pending.key, pending.version, learned, settings.BTW_PAGE_CACHE_TIMEOUT)
            except Exception:  # noqa: BLE001 - learning is an optimisation: the reader has the answer already
                logger.warning("Fast path: headers of %s not stored", pending.address.entry.key, exc_info=True)
        return response


class _Rules:
    """The settings the fast path reads per request, as plain attributes of one object, and the hosts
    already validated against them. Rebuilt when a setting changes (`override_settings`, tests)."""

    __slots__ = ("answers", "session_cookie", "proxy_ssl_header", "ssl_redirect", "forwarded_host", "allowed_hosts",
                 "hosts")

    def __init__(self):
        # A page cache turned off, refused user agents or a `www.` redirect: CommonMiddleware or the page
        # cache would not simply answer, so nothing is answered here.
        self.answers = bool(settings.BTW_PAGE_CACHE_TIMEOUT) and not settings.DISALLOWED_USER_AGENTS
        self.answers = self.answers and not settings.PREPEND_WWW
        self.session_cookie = settings.SESSION_COOKIE_NAME
        self.proxy_ssl_header = settings.SECURE_PROXY_SSL_HEADER
        self.ssl_redirect = settings.SECURE_SSL_REDIRECT
        self.forwarded_host = settings.USE_X_FORWARDED_HOST
        allowed = settings.ALLOWED_HOSTS
        if settings.DEBUG and not allowed:
            allowed = _DEBUG_HOSTS
        self.allowed_hosts = list(allowed)
        self.hosts: dict[str, bool] = {}


_rules: _Rules | None = None


def rules() -> _Rules:
    global _rules  # noqa: PLW0603 - one snapshot per process, replaced when settings change
    if _rules is None:
        _rules = _Rules()
    return _rules


@receiver(setting_changed)
def _settings_changed(**_kwargs) -> None:
    global _rules  # noqa: PLW0603
    _rules = None


def answerable_scheme(environ) -> str | None:
    """The request's scheme if the fast path may answer it, else None: what the full path would check
    before its page cache answers (a reader who could see more, a host Django refuses, an HTTPS
    redirect, a precondition other than If-None-Match) sends it to the full path."""
    method = environ["REQUEST_METHOD"]
    if method != "GET" and method != "HEAD":
        return None
    rule = _rules or rules()
    if not rule.answers:
        return None
    cookie = environ.get("HTTP_COOKIE")
    if cookie and (rule.session_cookie in cookie or "messages" in cookie):
        return None
    if "HTTP_AUTHORIZATION" in environ or "HTTP_IF_MATCH" in environ or "HTTP_IF_UNMODIFIED_SINCE" in environ:
        return None
    if "HTTP_IF_MODIFIED_SINCE" in environ and "HTTP_IF_NONE_MATCH" not in environ:
        return None
    if "SCRIPT_URL" in environ or "REDIRECT_URL" in environ:
        return None  # never learned (_keyed_by)
    scheme = _scheme(environ, rule)
    if rule.ssl_redirect and scheme != "https":
        return None
    return scheme if _host_allowed(environ, rule) else None


def _scheme(environ, rule: _Rules) -> str:
    """HttpRequest.scheme, from the environ."""
    if rule.proxy_ssl_header:
        header, secure_value = rule.proxy_ssl_header
        value = environ.get(header)
        if value is not None:
            return "https" if value.split(",", 1)[0].strip() == secure_value else "http"
    return environ.get("wsgi.url_scheme", "http")


def _host_allowed(environ, rule: _Rules) -> bool:
    """HttpRequest.get_host's validation, remembered per host; a request without a Host header goes to
    the full path."""
    if rule.forwarded_host and "HTTP_X_FORWARDED_HOST" in environ:
        host = environ["HTTP_X_FORWARDED_HOST"]
    else:
        host = environ.get("HTTP_HOST")
        if host is None:
            return False
    allowed = rule.hosts.get(host)
    if allowed is None:
        domain, _port = split_domain_port(host)
        allowed = bool(domain) and validate_host(domain, rule.allowed_hosts)
        if len(rule.hosts) >= _REMEMBERED_HOSTS:  # Host is the client's to choose: keep few
            rule.hosts.clear()
        rule.hosts[host] = allowed
    return allowed


def _not_modified(etag: str, if_none_match: str) -> bool:
    """ConditionalGetMiddleware's If-None-Match test (django.utils.cache.get_conditional_response)."""
    return not _if_none_match_passes(etag, parse_etags(if_none_match))


def _keyed_by(where: tuple[str, str, str], environ, entry: page_cache.PageEntry) -> bool:
    """Whether the page's key was computed from exactly this address: its path and its raw query, which
    must be the understood query itself (a junk parameter, another order, other escaping: no). The path
    is rebuilt from the raw address as WSGIRequest builds it (Django rewrites the environ's own)."""
    if "SCRIPT_URL" in environ or "REDIRECT_URL" in environ:
        return False  # mod_rewrite's: the path would depend on more than the address
    script_name, path_info, raw_query = where
    try:
        query = raw_query.encode("iso-8859-1").decode(errors="replace")  # as get_str_from_wsgi
    except UnicodeEncodeError:
        return False
    if any(name in page_cache.BYPASS_PARAMS for name, _value in parse_qsl(query, keep_blank_values=True)):
        return False
    raw = {"SCRIPT_NAME": script_name, "PATH_INFO": path_info}
    script_name, path_info = get_script_name(raw), get_path_info(raw) or "/"
    path = "{}/{}".format(script_name.rstrip("/"), path_info.replace("/", "", 1))  # WSGIRequest.path
    return page_cache.page_key(path, query) == entry.key


def _is_expected(pending: _Pending, response, status_line: str, headers) -> bool:
    """Whether the full path answered with the representation the fast path validated: same status,
    same ETag, the same page, no cookie set."""
    if not status_line.startswith(f"{pending.status} "):
        return False
    etags = [value for name, value in headers if name.lower() == "etag"]
    if etags != [pending.etag] or any(name.lower() == "set-cookie" for name, _value in headers):
        return False
    if pending.status == 200:
        entry = getattr(response, "page_entry", None)
        return entry is not None and entry.key == pending.address.entry.key
    return True
