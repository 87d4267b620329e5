"""Telling a CDN in front to drop what changed, by surrogate key: the dependency tags of
`profiles.dependencies`, which anonymous responses name in `Surrogate-Key` / `Cache-Tag`
(`profiles.cache.surrogate_keys`).

Off — no work at all — unless `BTW_CDN_PURGE` names a backend:

- `varnish`: a `PURGE` request carrying `xkey-purge: <keys>` to each of `BTW_CDN_PURGE_URLS`; the VCL
  drops them with vmod xkey (tests/varnish/purge.vcl is one that does). `xkey-softpurge` instead with
  `BTW_CDN_SOFT_PURGE` (the VCL then serves the old copy while it fetches the new one: not "at once").
- `fastly`: `POST <BTW_FASTLY_API_URL>/service/<BTW_FASTLY_SERVICE_ID>/purge`, keys in `Surrogate-Key`
  (256 a request), the token `BTW_FASTLY_API_TOKEN` in `Fastly-Key`.
- `cloudflare`: `POST <BTW_CLOUDFLARE_API_URL>/client/v4/zones/<BTW_CLOUDFLARE_ZONE_ID>/purge_cache`
  with `{"tags": [...]}` (30 a request), the token `BTW_CLOUDFLARE_API_TOKEN` as a bearer token.

**One purge per transaction.** `profiles.cache.retire` calls `after_commit` for every row saved; the
keys of a transaction are gathered per connection and sent once, when it commits, by one job
(`purge_tags`) — never when it rolls back, and never before the page cache's own commit bumps: the
transaction's purge is re-registered with `on_commit` behind each `retire` (which registers its bumps
first), the earlier registrations standing down, so a CDN that refetches at once reads fresh pages.
A registration dropped with a rolled-back savepoint takes only that savepoint's keys with it.

Why after the commit rather than a job row written inside the transaction: the keys of a transaction
are known only once its last save is done, and Django has no hook at that moment but `on_commit`.
The cost is a window (the process dying between commit and enqueue) in which a purge is lost; the
CDN then serves the old page until its `max-age` (`BTW_PAGE_SHARED_MAX_AGE`) — bounded staleness.

**Never in the editor's way.** Every request has a deadline (`BTW_CDN_PURGE_TIMEOUT`) and follows no
redirect; a failure is logged (status and a short, token-free excerpt of the answer: tokens travel
only in request headers, never in a log line, an exception or a job's arguments) and the keys that
failed are queued again — after `BTW_CDN_PURGE_BACKOFF` seconds, doubling, on a queue that can defer
(the database backend); at once on the immediate one — until `BTW_CDN_PURGE_ATTEMPTS` runs give up.
Purging is idempotent, so a job that runs twice does no harm.
"""

from __future__ import annotations

import datetime
import http.client
import json
import logging
import urllib.error
import urllib.request
import weakref
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django_tasks import task

from .dependencies import SITE

logger = logging.getLogger(__name__)

#: Bytes of a CDN's answer read (and at most 200 of them logged): an API's answer is small.
MAX_ANSWER = 64 * 1024


def _setting(name: str, default):
    """Purge settings are optional in settings.py: off, and sensible deadlines, when left out."""
    return getattr(settings, name, default)


def backend_name() -> str:
    return str(_setting("BTW_CDN_PURGE", "") or "").strip().lower()


def enabled() -> bool:
    return bool(backend_name())


class PurgeError(Exception):
    """A CDN did not confirm a purge (unreachable, too slow, refused, or an answer that says it failed)."""


class PurgeGivenUp(PurgeError):
    """Recorded on the last job of a purge that failed `BTW_CDN_PURGE_ATTEMPTS` times."""


# --- one request ---------------------------------------------------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A purge API that redirects is misconfigured; following it would also carry the token elsewhere."""

    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _excerpt(body: bytes, secret: str) -> str:
    """At most 200 characters of an answer for the log, the token cut out first (a cut could split it)."""
    text = body.decode("utf-8", "replace")
    return (text.replace(secret, "[redacted]") if secret else text).strip()[:200]


def _request(method: str, url: str, *, headers: dict, body: bytes | None = None, secret: str = "") -> bytes:
    """Send one request and return the answer's body; PurgeError (free of `secret`) unless it is a 2xx."""
    if not url.startswith(("http://", "https://")):
        raise PurgeError(f"{url!r} is not an http(s) address")
    request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310 (checked above)
    try:
        with _OPENER.open(request, timeout=float(_setting("BTW_CDN_PURGE_TIMEOUT", 3.0))) as response:
            return response.read(MAX_ANSWER)
    except urllib.error.HTTPError as error:
        with error:
            answer = _excerpt(error.read(MAX_ANSWER), secret)
        raise PurgeError(f"{method} {url} answered {error.code}: {answer}") from None
    except (OSError, http.client.HTTPException) as error:  # refused, timed out, reset, garbled
        raise PurgeError(f"{method} {url} failed: {_excerpt(str(error).encode(), secret)}") from None


# --- backends ------------------------------------------------------------------------------------------------


def _required(name: str) -> str:
    value = str(_setting(name, "") or "").strip()
    if not value:
        raise ImproperlyConfigured(f"BTW_CDN_PURGE={backend_name()} needs {name}.")
    return value


class Purger:
    """A CDN's purge API: `send` one batch of at most `batch_size` keys, raising PurgeError when it fails."""

    name = ""
    batch_size = 1

    def send(self, keys: list[str]) -> None:
        raise NotImplementedError

    def purge(self, keys: list[str]) -> list[str]:
        """Purge `keys` batch by batch; returns the keys of the batches that failed (logged here)."""
        failed = []
        for start in range(0, len(keys), self.batch_size):
            batch = keys[start : start + self.batch_size]
            try:
                self.send(batch)
            except PurgeError as error:
                logger.warning("%s purge of %d key(s) failed: %s", self.name, len(batch), error)
                failed.extend(batch)
        return failed


class Varnish(Purger):
    """Varnish with vmod xkey, at each address of `BTW_CDN_PURGE_URLS` (every server of a cluster)."""

    name = "varnish"
    batch_size = 64  # keys of up to ~100 characters stay well under Varnish's 8 KB request header limit

    def __init__(self):
        urls = _setting("BTW_CDN_PURGE_URLS", [])
        self.urls = urls.replace(",", " ").split() if isinstance(urls, str) else [str(url) for url in urls]
        if not self.urls:
            raise ImproperlyConfigured("BTW_CDN_PURGE=varnish needs BTW_CDN_PURGE_URLS (the Varnish servers).")
        self.header = "xkey-softpurge" if _setting("BTW_CDN_SOFT_PURGE", False) else "xkey-purge"

    def send(self, keys):
        problems = []
        for url in self.urls:  # a batch failed on one server is sent to all again: purging is idempotent
            try:
                _request("PURGE", url, headers={self.header: " ".join(keys)})
            except PurgeError as error:
                problems.append(str(error))
        if problems:
            raise PurgeError("; ".join(problems))


class Fastly(Purger):
    name = "fastly"
    batch_size = 256  # Fastly's limit of keys per purge request

    def __init__(self):
        self.base = str(_setting("BTW_FASTLY_API_URL", "https://api.fastly.com")).rstrip("/")
        self.service = _required("BTW_FASTLY_SERVICE_ID")
        self.token = _required("BTW_FASTLY_API_TOKEN")

    def send(self, keys):
        headers = {"Fastly-Key": self.token, "Surrogate-Key": " ".join(keys), "Accept": "application/json"}
        if _setting("BTW_CDN_SOFT_PURGE", False):
            headers["Fastly-Soft-Purge"] = "1"
        url = f"{self.base}/service/{quote(self.service, safe='')}/purge"
        _request("POST", url, headers=headers, secret=self.token)


class Cloudflare(Purger):
    name = "cloudflare"
    batch_size = 30  # Cloudflare's limit of tags per purge_cache request

    def __init__(self):
        self.base = str(_setting("BTW_CLOUDFLARE_API_URL", "https://api.cloudflare.com")).rstrip("/")
        self.zone = _required("BTW_CLOUDFLARE_ZONE_ID")
        self.token = _required("BTW_CLOUDFLARE_API_TOKEN")

    def send(self, keys):
        url = f"{self.base}/client/v4/zones/{quote(self.zone, safe='')}/purge_cache"
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        answer = _request("POST", url, headers=headers, body=json.dumps({"tags": keys}).encode(), secret=self.token)
        try:
            success = json.loads(answer).get("success") is True
        except (ValueError, AttributeError):
            success = False
        if not success:
            raise PurgeError(f"POST {url} did not confirm the purge: {_excerpt(answer, self.token)}")


BACKENDS = {purger.name: purger for purger in (Varnish, Fastly, Cloudflare)}


def configured() -> Purger | None:
    """The purger `BTW_CDN_PURGE` names, None when off; ImproperlyConfigured for an unknown name or a
    backend missing one of its settings."""
    name = backend_name()
    if not name:
        return None
    if name not in BACKENDS:
        raise ImproperlyConfigured(f"BTW_CDN_PURGE is one of {', '.join(BACKENDS)} (or empty), not {name!r}.")
    return BACKENDS[name]()


# --- the job -------------------------------------------------------------------------------------------------


@task()
def purge_tags(tags: list[str], attempt: int = 1) -> dict:
    """Purge `tags` from the CDN; the keys that failed go back on the queue, until the attempts run out."""
    try:
        purger = configured()
    except ImproperlyConfigured as error:
        logger.error("CDN purge of %d key(s) not sent: %s", len(tags), error)
        raise
    if purger is None:
        return {"off": len(tags)}
    failed = purger.purge(list(tags))
    if failed:
        _again(failed, attempt)
    return {"purged": len(tags) - len(failed), "failed": len(failed), "attempt": attempt}


def _again(keys: list[str], attempt: int) -> None:
    attempts = max(1, int(_setting("BTW_CDN_PURGE_ATTEMPTS", 5)))
    if attempt >= attempts:
        message = f"CDN purge of {len(keys)} key(s) given up after {attempt} attempt(s)"
        logger.error("%s: %s", message, " ".join(keys[:20]))
        raise PurgeGivenUp(message)
    delay = float(_setting("BTW_CDN_PURGE_BACKOFF", 30.0)) * 2 ** (attempt - 1)
    job = purge_tags
    if delay > 0 and job.get_backend().supports_defer:
        job = job.using(run_after=timezone.now() + datetime.timedelta(seconds=delay))
    else:
        delay = 0
    logger.warning("CDN purge of %d key(s): attempt %d of %d in %ss", len(keys), attempt + 1, attempts, delay)
    job.enqueue(keys, attempt + 1)


def _enqueue(tags) -> None:
    keys = [SITE] if SITE in tags else sorted(tags)  # every page carries `site`: the rest is redundant
    try:
        purge_tags.enqueue(keys)
    except Exception:  # the queue's database is down: the CDN keeps the page until its max-age
        logger.exception("CDN purge of %d key(s) could not be queued", len(keys))


# --- one purge per transaction -------------------------------------------------------------------------------


class _CommitPurge:
    """A transaction's purge so far, registered with `on_commit`. A later `after_commit` in the same
    transaction registers a successor holding these keys too; while that successor is alive (Django
    holds it until it runs, or drops it with a rolled-back savepoint) this one stands down."""

    __slots__ = ("tags", "successor", "__weakref__")

    def __init__(self, tags: frozenset[str]):
        self.tags = tags
        self.successor = None

    def __call__(self) -> None:
        if self.successor is not None and self.successor() is not None:
            return
        _enqueue(self.tags)


#: connection → the latest purge registered in its open transaction.
_pending: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def after_commit(tags) -> None:
    """Purge `tags` once the change that retired them commits (nothing when no CDN is configured)."""
    if not enabled():
        return
    tags = frozenset(tags)
    if not tags:
        return
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        _enqueue(tags)  # autocommit: the change is visible already
        return
    previous = _pending.get(connection)
    current = _CommitPurge(tags | previous.tags if previous is not None else tags)
    transaction.on_commit(current, robust=True)
    if previous is not None:
        previous.successor = weakref.ref(current)
    _pending[connection] = current
