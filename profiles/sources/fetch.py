"""One safe fetch of a source URL: `fetch(url)` → `FetchResult`, never an exception for a bad source.

The URL comes from an analyst and its redirects from a stranger's server, so every limit is strict:
http and https only; a connect timeout, a read timeout per wait and a deadline for the whole fetch (a
server that drips one byte a second still ends); at most `BTW_FETCH_MAX_BYTES` read (past it the
fetch stops and says "too-large"); redirects followed up to `BTW_FETCH_MAX_REDIRECTS`, each hop
checked again and recorded.

The SSRF guard (`addresses.refusal`) judges addresses, not names: each host is resolved ONCE
(`resolve`), refused if any address it resolves to is not public, and then the connection goes to
that very address (`_connect`) with the original name in the Host header and in TLS (SNI and the
certificate check) — there is no second lookup for a rebinding DNS server to answer differently.
Hosts named in `BTW_FETCH_ALLOWED_HOSTS` skip the address check (the tests' server on 127.0.0.1, a
demo); production refuses to start with any (settings). With `BTW_FETCH_ONLY_ALLOWED_HOSTS` (on under
the tests) every other host is refused before any lookup, so the suite never reaches the internet.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote, urljoin, urlsplit

from django.conf import settings
from django.utils import timezone

import siteurl

from . import text as readable_text
from .addresses import refusal

#: What went wrong, as a short code (stored with the check) — the message says the particulars.
ERRORS = {
    "bad-url": "not an http(s) URL that can be fetched",
    "host-not-allowed": "only the allowed hosts may be fetched here (BTW_FETCH_ONLY_ALLOWED_HOSTS)",
    "dns": "the host name does not resolve",
    "blocked-address": "the host resolves to an address that is not on the public internet",
    "connect": "no connection could be made",
    "tls": "the TLS handshake or certificate check failed",
    "timeout": "the server did not answer in time",
    "bad-response": "the server's answer was not valid HTTP",
    "too-large": "the body is larger than the limit",
    "too-many-redirects": "more redirects than the limit",
    "failed": "the fetch failed",
}
REDIRECTS = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Limits:
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_timeout: float = 30.0
    max_bytes: int = 5 * 1024 * 1024
    max_redirects: int = 5
    allowed_hosts: frozenset[str] = frozenset()
    only_allowed_hosts: bool = False

    @classmethod
    def from_settings(cls) -> Limits:
        default = cls()
        return cls(
            connect_timeout=float(getattr(settings, "BTW_FETCH_CONNECT_TIMEOUT", default.connect_timeout)),
            read_timeout=float(getattr(settings, "BTW_FETCH_READ_TIMEOUT", default.read_timeout)),
            total_timeout=float(getattr(settings, "BTW_FETCH_TOTAL_TIMEOUT", default.total_timeout)),
            max_bytes=int(getattr(settings, "BTW_FETCH_MAX_BYTES", default.max_bytes)),
            max_redirects=int(getattr(settings, "BTW_FETCH_MAX_REDIRECTS", default.max_redirects)),
            allowed_hosts=frozenset(h.strip().lower() for h in getattr(settings, "BTW_FETCH_ALLOWED_HOSTS", ()) if h),
            only_allowed_hosts=bool(getattr(settings, "BTW_FETCH_ONLY_ALLOWED_HOSTS", False)),
        )


@dataclass
class FetchResult:
    """What one fetch found. `error` is "" when an HTTP answer came back (whatever its status)."""

    url: str
    final_url: str
    fetched_at: datetime
    status: int | None = None
    content_type: str = ""
    size: int = 0
    text: str = ""
    text_hash: str = ""
    title: str = ""
    redirects: list[dict] = field(default_factory=list)
    error: str = ""
    message: str = ""
    etag: str = ""
    last_modified: str = ""
    retry_after: str = ""
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.error and self.status is not None and 200 <= self.status < 300


class _Failure(Exception):
    def __init__(self, code: str, message: str = ""):
        super().__init__(message or ERRORS[code])
        self.code = code


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # lower case, IDNA-encoded
    port: int
    path: str  # path and query, percent-encoded

    @property
    def is_ip(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True


@dataclass
class _Answer:
    status: int
    reason: str
    headers: http.client.HTTPMessage
    body: bytes = b""
    size: int = 0  # bytes read (of a body over the limit: how far reading went)
    too_large: str = ""  # why reading stopped early, when it did


def user_agent() -> str:
    """Who is asking, and where to read about us (polite crawlers say so)."""
    return f"{siteurl.name()} source check (+{siteurl.base()}/)"


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, in the resolver's order: the one DNS lookup of a hop
    (tests replace this function to play a resolver that answers with private addresses)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def _connect(address: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to an address the guard passed (tests replace this to see that none is made)."""
    return socket.create_connection((address, port), timeout=timeout)


def fetch(
    url: str, *, if_none_match: str = "", if_modified_since: str = "", limits: Limits | None = None
) -> FetchResult:
    """GET `url` within the limits, following redirects; a bad source gives a result with `error` set."""
    limits = limits or Limits.from_settings()
    started = time.monotonic()
    deadline = started + limits.total_timeout
    result = FetchResult(url=url, final_url=url, fetched_at=timezone.now())
    conditional = {}
    if if_none_match:
        conditional["If-None-Match"] = if_none_match
    if if_modified_since:
        conditional["If-Modified-Since"] = if_modified_since
    current = url
    try:
        while True:
            result.final_url = current
            target = _parse(current)
            addresses = _addresses(target, limits)
            answer = _exchange(target, addresses, limits, deadline, conditional)
            location = answer.headers.get("Location")
            if answer.status in REDIRECTS and location:
                next_url = urljoin(current, location.strip())
                result.redirects.append({"url": current, "status": answer.status, "location": next_url})
                result.status = answer.status
                if len(result.redirects) > limits.max_redirects:
                    raise _Failure("too-many-redirects", f"more than {limits.max_redirects} redirects")
                current = next_url
                continue
            _describe(result, answer)
            if answer.too_large:
                raise _Failure("too-large", answer.too_large)
            break
    except _Failure as failure:
        result.error, result.message = failure.code, str(failure)
    except Exception as exc:  # noqa: BLE001  (a bad source must never raise: name what happened)
        result.error, result.message = _classify(exc)
    result.message = result.message[:500]
    result.elapsed = time.monotonic() - started
    return result


def _parse(url: str) -> _Target:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise _Failure("bad-url", f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _Failure("bad-url", f"only http and https are fetched, not {scheme or 'a relative URL'!r}")
    if not parts.hostname:
        raise _Failure("bad-url", "the URL names no host")
    if parts.username is not None or parts.password is not None:
        raise _Failure("bad-url", "URLs with a user name or password are not fetched")
    try:
        host = parts.hostname.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise _Failure("bad-url", "the host name is not valid") from None
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        path += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    return _Target(scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80), path=path)


def _addresses(target: _Target, limits: Limits) -> list[str]:
    """The one lookup of this hop and the guard's verdict on every address it gave."""
    allowed = target.host in limits.allowed_hosts
    if limits.only_allowed_hosts and not allowed:
        raise _Failure("host-not-allowed", f"{target.host} is not in BTW_FETCH_ALLOWED_HOSTS")
    if target.is_ip:
        addresses = [target.host]
    else:
        try:
            addresses = resolve(target.host, target.port)
        except (OSError, UnicodeError) as exc:
            raise _Failure("dns", f"{target.host} does not resolve: {exc}") from None
    if not addresses:
        raise _Failure("dns", f"{target.host} resolves to no address")
    if not allowed:
        for address in addresses:
            reason = refusal(address)
            if reason:
                raise _Failure("blocked-address", f"{target.host} resolves to {address}, {reason}")
    return addresses


def _exchange(target: _Target, addresses: list[str], limits: Limits, deadline: float, extra: dict) -> _Answer:
    """One request and its answer over a connection to one of `addresses` (the body read within limits)."""
    sock = None
    last_error: OSError | None = None
    for address in addresses:
        try:
            sock = _connect(address, target.port, _wait(limits.connect_timeout, deadline))
            break
        except OSError as exc:
            last_error = exc
    if sock is None:
        raise last_error or _Failure("connect")
    connection_class = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(target.host, target.port, timeout=limits.read_timeout)
    # Already connected to the checked address: http.client will not look the name up again.
    connection.sock = sock
    try:
        if target.scheme == "https":  # the name, not the address, for SNI and the certificate check
            sock.settimeout(_wait(limits.read_timeout, deadline))
            sock = connection.sock = ssl.create_default_context().wrap_socket(sock, server_hostname=target.host)
        connection.putrequest("GET", target.path, skip_accept_encoding=True)
        for name, value in {
            "User-Agent": user_agent(),
            "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.8",
            "Accept-Encoding": "identity",
            **extra,
        }.items():
            connection.putheader(name, value)
        connection.endheaders()
        sock.settimeout(_wait(limits.read_timeout, deadline))
        response = connection.getresponse()
        answer = _Answer(status=response.status, reason=response.reason, headers=response.headers)
        if response.status not in REDIRECTS:
            _read(answer, response, sock, limits, deadline)
        return answer
    finally:
        connection.close()


def _wait(timeout: float, deadline: float) -> float:
    """The next wait: the per-wait timeout, cut to what is left of the whole fetch's deadline."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("the fetch ran past its deadline")
    return min(timeout, remaining)


def _read(answer: _Answer, response, sock, limits: Limits, deadline: float) -> None:
    """Read the body into `answer`, stopping (and saying why) once it passes the size limit."""
    declared = response.getheader("Content-Length")
    if declared and declared.strip().isdigit() and int(declared) > limits.max_bytes:
        answer.too_large = f"Content-Length {int(declared)} bytes, over the limit of {limits.max_bytes}; not read"
        return
    chunks = []
    while True:
        sock.settimeout(_wait(limits.read_timeout, deadline))
        chunk = response.read1(CHUNK)
        if not chunk:
            break
        answer.size += len(chunk)
        if answer.size > limits.max_bytes:
            answer.too_large = f"over the limit of {limits.max_bytes} bytes; reading stopped at {answer.size}"
            return
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = (response.getheader("Content-Encoding") or "").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):  # sent despite "Accept-Encoding: identity"
        try:
            body = zlib.decompressobj(wbits=zlib.MAX_WBITS | 32).decompress(body, limits.max_bytes + 1)
        except zlib.error as exc:
            raise _Failure("bad-response", f"the {encoding} body does not decompress: {exc}") from None
        if len(body) > limits.max_bytes:
            answer.too_large = f"over the limit of {limits.max_bytes} bytes once decompressed"
            return
    answer.body, answer.size = body, len(body)


def _describe(result: FetchResult, answer: _Answer) -> None:
    headers = answer.headers
    content_type = (headers.get("Content-Type") or "").strip()
    text, title = readable_text.readable(answer.body, content_type) if answer.body else ("", "")
    result.status = answer.status
    result.content_type = content_type[:200]
    result.size = answer.size
    result.text, result.title = text, title
    result.text_hash = readable_text.text_hash(answer.body, content_type, text) if answer.body else ""
    result.etag = (headers.get("ETag") or "")[:200]
    result.last_modified = (headers.get("Last-Modified") or "")[:100]
    result.retry_after = (headers.get("Retry-After") or "")[:100]
    if answer.status >= 400:
        result.message = f"HTTP {answer.status} {answer.reason}".strip()


def _classify(exc: Exception) -> tuple[str, str]:
    """An exception from the network, as an error code and a short message."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timeout", f"no answer in time ({detail})"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return "tls", detail
    if isinstance(exc, socket.gaierror):
        return "dns", detail
    if isinstance(exc, http.client.HTTPException):
        return "bad-response", f"{type(exc).__name__}: {detail}"
    if isinstance(exc, OSError):
        return "connect", detail
    return "failed", f"{type(exc).__name__}: {detail}"
