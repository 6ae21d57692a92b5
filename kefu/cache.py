"""Django's Redis cache backend, keeping one Redis client per connection pool.

Django's ``RedisCacheClient`` builds a new ``redis.Redis`` for every operation, and building one (its
table of response callbacks) took longer than a GET's round trip on loopback: the reply pipeline reads
the cache for every buyer line. A client is only a handle on its pool, which hands each command a
connection and is safe across threads and forks, so one client per pool is kept.
"""

from django.core.cache.backends import redis as django_redis


class ClientKeepingRedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(django_redis.RedisCache):
    """``BACKEND: "kefu.cache.RedisCache"``: Django's Redis cache with the client kept."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ClientKeepingRedisCacheClient
