"""Django's Redis cache, with one Redis client per connection pool instead of one per call.

Django's RedisCacheClient builds a new `redis.Redis` object on every cache operation (its
`get_client`); building one costs more than the round trip to Redis itself, and a logged-in
page pays for it at least once (the cached session). A `redis.Redis` object is thread-safe and
its pool reconnects after a fork, so one per pool is enough.
"""

from django.core.cache.backends import redis as django_redis
from django.utils.functional import cached_property


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(
                connection_pool=self._get_connection_pool(write)
            )
        return client


class RedisCache(django_redis.RedisCache):
    @cached_property
    def _cache(self) -> RedisCacheClient:
        return RedisCacheClient(self._servers, **self._options)
