"""The version feed: every move of a version counter is announced, so a process can trust the versions
it last read without asking the cache again.

`profiles.cache._incr` calls `announce` right after it writes fresh counter values. That moves this
process's *generation* at once (no network: an edit inside a transaction that never commits is seen by
this process's fast path) and tells the other processes: with Redis, a PUBLISH on a channel named from
the cache's KEY_PREFIX; with the database cache on PostgreSQL, a `pg_notify` on the connection that
wrote the counters, which PostgreSQL delivers at commit, exactly when the new rows become visible (a
rolled-back transaction tells nobody). Each process has one `Listener` on a connection of its own;
anything it hears, and any fault on that connection, moves the generation.

A reader (the WSGI fast path, `btwprofiles.fastpath`) takes `mark()` before it reads the versions and
may reuse them while `trusted(*mark)`: the listener is healthy, the generation has not moved since, and
less than BTW_VERSION_FEED_TRUST seconds have passed — the bound on what a lost message, or a Redis
cache epoch move (which announces nothing), can cost. A backend the feed cannot hear from other
processes through (the database cache on SQLite) is never trusted; a local-memory cache is private to
the process, so its in-process generation is the whole story.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import select
import threading
from time import monotonic

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from django.core.signals import setting_changed
from django.db import connections, router
from django.dispatch import receiver

logger = logging.getLogger(__name__)

#: A broken listener connects again at most this often (seconds): a cache that is down costs a
#: process one connection attempt per interval, not one per request.
RETRY_INTERVAL = 1.0
SUBSCRIBE_TIMEOUT = 0.5  # seconds Redis may take to confirm a subscription
_MAX_CHANNEL = 63  # PostgreSQL truncates longer identifiers in LISTEN, and pg_notify refuses them
_FEED_SETTINGS = frozenset({"CACHES", "DATABASES", "BTW_VERSION_FEED", "BTW_VERSION_FEED_TRUST"})

_generation = 0
_generation_lock = threading.Lock()


def _move() -> None:
    """Distrust every version read so far in this process."""
    global _generation  # noqa: PLW0603 - one generation per process
    with _generation_lock:
        _generation += 1


def generation() -> int:
    return _generation


def channel(cache) -> str:
    """Where a cache's counter moves are announced: named from its KEY_PREFIX, so sites sharing a Redis
    or a PostgreSQL server do not hear each other."""
    name = f"{cache.key_prefix}:btw:versions"
    if len(name.encode()) > _MAX_CHANNEL:
        name = f"btw:versions:{hashlib.sha256(name.encode()).hexdigest()[:32]}"
    return name


def announce(keys) -> None:
    """Counters `keys` have just moved: distrust what this process read, and tell the others. Which
    counters is not sent — any move retires every reader's trust, which is simple and moves are rare."""
    _move()
    if not settings.BTW_VERSION_FEED:
        return
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        try:
            cache._cache.get_client(write=True).publish(channel(cache), b"")
        except Exception as error:  # noqa: BLE001 - like the cache's own writes: the trust window bounds it
            logger.warning("Version feed: counter move not published (%s)", error)
    elif isinstance(cache, DatabaseCache):
        connection = connections[router.db_for_write(cache.cache_model_class)]
        if connection.vendor == "postgresql":
            # Same connection and transaction as the counter rows: delivered when they are committed. A
            # failure here is one of that transaction, as a failed counter write would be.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_notify(%s, '')", [channel(cache)])


class Listener:
    """What this process hears of other processes' counter moves. This base class hears nothing: healthy
    for a cache private to the process (nobody else moves its counters), never healthy otherwise."""

    def __init__(self, *, trust: float, healthy: bool):
        self.pid = os.getpid()
        self.trust = trust
        self.healthy = healthy

    def poll(self) -> None:
        """Take in what has arrived, without waiting."""

    def heard(self) -> None:
        """Another process moved a counter (what `poll` does on a message; tests call it to stand for one)."""
        _move()

    def close(self) -> None:
        pass


class _ConnectedListener(Listener):
    """A listener on a connection of its own: any message moves the generation; an error, EOF or a
    reconnection moves it too and leaves the listener unhealthy until it has subscribed again."""

    def __init__(self, *, trust: float, channel: str):
        super().__init__(trust=trust, healthy=False)
        self.channel = channel
        self._retry_at = float("-inf")
        self._lock = threading.Lock()  # one thread drains; a poll object refuses concurrent use
        self._poller = None
        self._fd = None
        self._warned = False  # one warning per outage, not one per retry
        self.poll()

    def poll(self) -> None:
        with self._lock:
            if self.healthy:
                try:
                    if self._poller.poll(0) and self._drain():
                        self.heard()
                    return
                except Exception as error:  # noqa: BLE001 - any fault: distrust, reconnect later
                    logger.warning("Version feed: listener on %s lost (%s)", self.channel, error)
                    self._broken()
                    return
            if monotonic() < self._retry_at:
                return
            self._retry_at = monotonic() + RETRY_INTERVAL
            try:
                self._fd = self._subscribe()
            except Exception as error:  # noqa: BLE001
                if not self._warned:
                    logger.warning("Version feed: cannot listen on %s (%s)", self.channel, error)
                    self._warned = True
                self._broken()
                return
            self._poller = select.poll()
            self._poller.register(self._fd, select.POLLIN | select.POLLPRI)
            self.healthy, self._warned = True, False
            _move()  # whatever was announced while nobody listened

    def _broken(self) -> None:
        self.healthy = False
        _move()
        self._poller = self._fd = None
        with contextlib.suppress(Exception):  # it is being dropped anyway
            self._disconnect()

    def close(self) -> None:
        with self._lock:
            self._broken()

    def _subscribe(self) -> int:
        """Connect, subscribe, and return the socket's file descriptor."""
        raise NotImplementedError

    def _drain(self) -> bool:
        """Read everything that has arrived; true when anything did. Raises on EOF or an error."""
        raise NotImplementedError

    def _disconnect(self) -> None:
        raise NotImplementedError


class _RedisListener(_ConnectedListener):
    def __init__(self, cache: RedisCache, *, trust: float):
        self._client = cache._cache.get_client(write=True)
        self._pubsub = None
        super().__init__(trust=trust, channel=channel(cache))

    def _subscribe(self) -> int:
        self._pubsub = self._client.pubsub()
        self._pubsub.subscribe(self.channel)
        confirmed = self._pubsub.get_message(timeout=SUBSCRIBE_TIMEOUT)  # else the next poll would hear it
        if confirmed is None or confirmed["type"] != "subscribe":
            raise ConnectionError(f"subscription not confirmed ({confirmed})")
        self._socket = self._pubsub.connection._sock  # redis-py keeps it private; the poll needs its fd
        return self._socket.fileno()

    def _drain(self) -> bool:
        heard = False
        while self._pubsub.get_message(timeout=0.0) is not None:
            heard = True
        if self._pubsub.connection is None or self._pubsub.connection._sock is not self._socket:
            raise ConnectionError("reconnected: messages may have been missed")
        return heard

    def _disconnect(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            pubsub.close()


class _PostgresListener(_ConnectedListener):
    def __init__(self, alias: str, *, trust: float, channel: str):
        self.alias = alias
        self._connection = None
        super().__init__(trust=trust, channel=channel)

    def _subscribe(self) -> int:
        import psycopg  # only with PostgreSQL
        from psycopg import sql

        params = connections[self.alias].get_connection_params()
        params.pop("cursor_factory", None)
        params.setdefault("connect_timeout", 2)
        self._connection = psycopg.connect(**params, autocommit=True)
        self._connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        return self._connection.pgconn.socket

    def _drain(self) -> bool:
        pgconn = self._connection.pgconn
        pgconn.consume_input()  # raises when the server has gone (EOF)
        while pgconn.notifies() is not None:
            pass
        if pgconn.status != 0:  # CONNECTION_OK
            raise ConnectionError(pgconn.get_error_message() or "connection lost")
        return True  # readable: a notification, or something else the server says; distrust either way

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


_listener: Listener | None = None
_listener_lock = threading.Lock()


def listener() -> Listener:
    """This process's listener, made on first use in each process (a gunicorn worker forked from a
    preloaded app gets its own) and again after the cache settings change."""
    current = _listener
    if current is None or current.pid != os.getpid():
        with _listener_lock:
            current = _listener
            if current is None or current.pid != os.getpid():
                current = _open()
    return current


def _open() -> Listener:
    global _listener  # noqa: PLW0603 - one per process
    trust = settings.BTW_VERSION_FEED_TRUST
    cache = caches["default"]
    if not settings.BTW_VERSION_FEED:
        made = Listener(trust=trust, healthy=False)
    elif isinstance(cache, LocMemCache):
        made = Listener(trust=trust, healthy=True)
    elif isinstance(cache, RedisCache):
        made = _RedisListener(cache, trust=trust)
    elif isinstance(cache, DatabaseCache):
        alias = router.db_for_write(cache.cache_model_class)
        if connections[alias].vendor == "postgresql":
            made = _PostgresListener(alias, trust=trust, channel=channel(cache))
        else:
            made = Listener(trust=trust, healthy=False)
    else:
        made = Listener(trust=trust, healthy=False)
    _move()  # versions read under another listener (or none) are not vouched for by this one
    _listener = made
    return made


def mark() -> tuple[int, float]:
    """Taken before reading versions, stored with them: the generation and the time of the read."""
    listener()  # made first: making it moves the generation
    return _generation, monotonic()


def trusted(since_generation: int, read_at: float) -> bool:
    """Whether versions read at `mark()` == (since_generation, read_at) are still current, as far as this
    process can tell without asking the cache: nothing announced since, its listener healthy, and the
    read recent enough. Polls the listener first."""
    feed = listener()
    feed.poll()
    return feed.healthy and _generation == since_generation and monotonic() - read_at < feed.trust


@receiver(setting_changed)
def _settings_changed(setting, **_kwargs) -> None:
    global _listener  # noqa: PLW0603
    if setting in _FEED_SETTINGS:
        with _listener_lock:
            old, _listener = _listener, None
        if old is not None and old.pid == os.getpid():
            old.close()
