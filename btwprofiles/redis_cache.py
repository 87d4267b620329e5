"""Django's Redis cache backend, reusing one client per connection pool.

The stock client builds a new `redis.Redis` for every cache operation, and each one rebuilds
its table of response callbacks: measurable CPU on pages that make a few cache reads per
request (page cache, content version, fragments). The pools were already shared; now the
clients are too. Redis clients are safe to share between threads.
"""

import atexit
import logging
import secrets
import time

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, router, transaction
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


class SharedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


class SharedClientRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedClientRedisCacheClient


class ResilientRedisCache(SharedClientRedisCache):
    """Redis that may go away: a failed call is a miss (reads return the default, writes are dropped),
    so pages are built from the database instead of failing; one warning when Redis goes, one line
    when it is back. Short timeouts keep a hung Redis from holding a worker.

    A dropped write can leave an entry in Redis that no longer holds: a content-version bump lost
    while Redis was frozen keeps every page from before the edit current, a lost session delete keeps
    a signed-out session alive. Redis cannot be trusted to hear about it, and the process that
    dropped the write may be a `manage.py` run that ends before Redis is back. So the record lives in
    the database: every key is made under an *epoch* kept in the `durable` cache (the database's
    cache table), and a process that drops a write moves the epoch to a fresh value. Every process
    re-reads the epoch at most once per EPOCH_INTERVAL, so within that interval of a dropped write
    all of them stop reading what was stored before it: the cache restarts cold, never stale.
    """

    DEFAULT_OPTIONS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
    #: While Redis is down, a process tries it again at most this often (seconds); calls in between
    #: are misses at once, so an outage costs a worker one timeout per interval, not one per call.
    RETRY_INTERVAL = 1.0
    #: How often (seconds) a process re-reads the epoch: one indexed query per process per interval,
    #: and the longest an entry from before a dropped write can still be read by another process.
    EPOCH_INTERVAL = 1.0
    EPOCH_KEY = "btw:cache-epoch"

    def __init__(self, server, params):
        options = dict(params.get("OPTIONS", {}))
        self._epoch_alias = options.pop("EPOCH_CACHE", "durable")
        if self._epoch_alias not in settings.CACHES:
            raise ImproperlyConfigured(
                f"ResilientRedisCache keeps its epoch in CACHES[{self._epoch_alias!r}], a database cache"
            )
        params = {**params, "OPTIONS": {**self.DEFAULT_OPTIONS, **options}}
        super().__init__(server, params)
        self._down = False
        self._retry_at = 0.0
        self._epoch = "0"
        self._epoch_read_at = float("-inf")
        self._drops = 0  # writes this process has dropped, counted
        self._moved_for = 0  # ... of which an epoch move (committed or not) was written for
        self._settled = 0  # ... of which a committed epoch move covers
        self._epoch_moved_at = float("-inf")
        atexit.register(self._settle)

    # The epoch -----------------------------------------------------------------------------------

    def make_key(self, key, version=None):
        return super().make_key(f"{self._epoch}:{key}", version)

    def _read_epoch(self, now: float) -> None:
        try:
            self._epoch = caches[self._epoch_alias].get(self.EPOCH_KEY, "0")
        except DatabaseError as error:  # keep the last one: the page will say what is wrong
            logger.warning("Cache epoch unreadable (%s)", error)
        self._epoch_read_at = now

    @property
    def _owes_epoch(self) -> bool:
        return self._drops > self._settled

    def _move_epoch(self) -> None:
        """Retire everything stored so far, in every process within EPOCH_INTERVAL. Written inside a
        transaction, the move covers this process's drops only once it commits; rolled back, they
        are still owed."""
        durable = caches[self._epoch_alias]
        epoch, covered = secrets.token_hex(8), self._drops
        durable.set(self.EPOCH_KEY, epoch, timeout=None)
        self._epoch, self._moved_for = epoch, covered
        self._epoch_moved_at = self._epoch_read_at = time.monotonic()

        def settled():
            self._settled = max(self._settled, covered)

        using = router.db_for_write(durable.cache_model_class)
        transaction.on_commit(settled, using=using)  # at once in autocommit

    def _dropped_write(self) -> None:
        self._drops += 1
        # The first drop of an outage moves the epoch at once; later ones at most once per
        # RETRY_INTERVAL, and whatever is still owed when Redis answers again or the process ends.
        if time.monotonic() >= self._epoch_moved_at + self.RETRY_INTERVAL:
            self._move_epoch()

    def _settle(self) -> None:
        """At exit: a `manage.py` run whose writes were dropped must not leave them unrecorded."""
        if self._owes_epoch:
            try:
                self._move_epoch()
            except Exception as error:  # noqa: BLE001 - at exit, say it and go
                logger.error("Cache epoch not moved at exit (%s): entries may be stale until they expire", error)

    # Every call ----------------------------------------------------------------------------------

    def _guarded(self, operation, fallback, *args, writes=False, **kwargs):
        now = time.monotonic()
        if now >= self._epoch_read_at + self.EPOCH_INTERVAL:
            self._read_epoch(now)
        if self._down and now < self._retry_at:
            return self._missed(fallback, writes)
        try:
            if self._drops > self._moved_for:
                self._move_epoch()  # before anything new is stored next to entries the drops made stale
            result = operation(*args, **kwargs)
        except RedisError as error:
            if not self._down:
                logger.warning("Cache unreachable (%s): serving from the database until it is back", error)
                self._down = True
            self._retry_at = time.monotonic() + self.RETRY_INTERVAL
            return self._missed(fallback, writes)
        if self._down:
            self._down = False
            logger.warning("Cache reachable again")
        return result

    def _missed(self, fallback, writes: bool):
        if writes:
            self._dropped_write()
        return fallback

    def add(self, *args, **kwargs):
        return self._guarded(super().add, False, *args, writes=True, **kwargs)

    def get(self, key, default=None, version=None):
        return self._guarded(super().get, default, key, default, version)

    def set(self, *args, **kwargs):
        return self._guarded(super().set, None, *args, writes=True, **kwargs)

    def touch(self, *args, **kwargs):
        return self._guarded(super().touch, False, *args, writes=True, **kwargs)

    def delete(self, *args, **kwargs):
        return self._guarded(super().delete, False, *args, writes=True, **kwargs)

    def get_many(self, *args, **kwargs):
        return self._guarded(super().get_many, {}, *args, **kwargs)

    def has_key(self, *args, **kwargs):
        return self._guarded(super().has_key, False, *args, **kwargs)

    def incr(self, key, delta=1, version=None):
        # Django's contract: ValueError for a missing key, which callers already handle as "start over".
        result = self._guarded(super().incr, None, key, delta, version, writes=True)
        if result is None:
            raise ValueError(f"Key '{key}' not found (cache unreachable)")
        return result

    def set_many(self, data, *args, **kwargs):
        return self._guarded(super().set_many, list(data), data, *args, writes=True, **kwargs)

    def delete_many(self, *args, **kwargs):
        return self._guarded(super().delete_many, None, *args, writes=True, **kwargs)

    def clear(self):
        return self._guarded(super().clear, False, writes=True)
