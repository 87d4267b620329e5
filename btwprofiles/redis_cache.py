"""Django's Redis cache backend, reusing one client per connection pool.

The stock client builds a new `redis.Redis` for every cache operation, and each one rebuilds
its table of response callbacks: measurable CPU on pages that make a few cache reads per
request (page cache, content version, fragments). The pools were already shared; now the
clients are too. Redis clients are safe to share between threads.
"""

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


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
