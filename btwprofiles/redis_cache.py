"""Django's Redis cache backend, reusing one client per connection pool.

The stock client builds a new `redis.Redis` for every cache operation, and each one rebuilds
its table of response callbacks: measurable CPU on pages that make a few cache reads per
request (page cache, content version, fragments). The pools were already shared; now the
clients are too. Redis clients are safe to share between threads.
"""

import logging
import time

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
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
    when it is back.

    While it was unreachable this process's writes were dropped, content-version bumps included, so
    entries stored before the outage could outlive a change made during it. On the first call that
    succeeds again, the process deletes every key under the cache's prefix before answering: the
    cache restarts cold, never stale. Short timeouts keep a hung Redis from holding a worker.
    """

    DEFAULT_OPTIONS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
    #: While Redis is down, a process tries it again at most this often (seconds); calls in between
    #: are misses at once, so an outage costs a worker one timeout per interval, not one per call.
    RETRY_INTERVAL = 1.0

    def __init__(self, server, params):
        params = {**params, "OPTIONS": {**self.DEFAULT_OPTIONS, **params.get("OPTIONS", {})}}
        super().__init__(server, params)
        self._down = False
        self._retry_at = 0.0

    def _guarded(self, operation, fallback, *args, **kwargs):
        if self._down and time.monotonic() < self._retry_at:
            return fallback
        try:
            if self._down:
                self._retire_everything()
            return operation(*args, **kwargs)
        except RedisError as error:
            if not self._down:
                logger.warning("Cache unreachable (%s): serving from the database until it is back", error)
                self._down = True
            self._retry_at = time.monotonic() + self.RETRY_INTERVAL
            return fallback

    def _retire_everything(self) -> None:
        client = self._cache.get_client(write=True)
        pattern = self.make_key("*")
        batch = []
        for key in client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) == 1000:
                client.unlink(*batch)
                batch = []
        if batch:
            client.unlink(*batch)
        self._down = False
        logger.warning("Cache reachable again: entries from before the outage retired")

    def add(self, *args, **kwargs):
        return self._guarded(super().add, False, *args, **kwargs)

    def get(self, key, default=None, version=None):
        return self._guarded(super().get, default, key, default, version)

    def set(self, *args, **kwargs):
        return self._guarded(super().set, None, *args, **kwargs)

    def touch(self, *args, **kwargs):
        return self._guarded(super().touch, False, *args, **kwargs)

    def delete(self, *args, **kwargs):
        return self._guarded(super().delete, False, *args, **kwargs)

    def get_many(self, *args, **kwargs):
        return self._guarded(super().get_many, {}, *args, **kwargs)

    def has_key(self, *args, **kwargs):
        return self._guarded(super().has_key, False, *args, **kwargs)

    def incr(self, key, delta=1, version=None):
        # Django's contract: ValueError for a missing key, which callers already handle as "start over".
        result = self._guarded(super().incr, None, key, delta, version)
        if result is None:
            raise ValueError(f"Key '{key}' not found (cache unreachable)")
        return result

    def set_many(self, data, *args, **kwargs):
        return self._guarded(super().set_many, list(data), data, *args, **kwargs)

    def delete_many(self, *args, **kwargs):
        return self._guarded(super().delete_many, None, *args, **kwargs)

    def clear(self):
        return self._guarded(super().clear, False)
