"""kefu's Redis cache backend: Django's, with one client kept per connection pool."""

import threading

import pytest
from django.core.cache import caches

pytestmark = pytest.mark.slow


@pytest.fixture
def redis_cache(redis_server, settings):
    settings.CACHES = {"default": {"BACKEND": "kefu.cache.RedisCache", "LOCATION": redis_server.url,
                                   "KEY_PREFIX": "backend-test"}}
    cache = caches["default"]
    cache.clear()
    return cache


def test_every_operation_works_against_a_real_redis(redis_cache):
    assert redis_cache.add("k", {"v": 1}) and not redis_cache.add("k", {"v": 2})
    assert redis_cache.get("k") == {"v": 1}
    redis_cache.set_many({"a": 1, "b": "二"}, timeout=30)
    assert redis_cache.get_many(["a", "b", "c"]) == {"a": 1, "b": "二"}
    assert redis_cache.incr("a", 5) == 6
    assert redis_cache.touch("b", 60) and redis_cache.delete("b") and redis_cache.get("b") is None
    redis_cache.set("gone", 1, timeout=0)
    assert redis_cache.get("gone", "missing") == "missing"


def test_one_client_serves_every_operation_of_a_pool_and_threads_share_it_safely(redis_cache):
    client = redis_cache._cache.get_client()
    redis_cache.set("x", 1)
    redis_cache.get("x")
    assert redis_cache._cache.get_client(write=True) is client
    errors = []

    def hammer(n):
        try:
            for i in range(200):
                client.set(f"backend-test:t{n}:{i}", i)
                assert int(client.get(f"backend-test:t{n}:{i}")) == i
        except Exception as exc:  # reported below, with the thread's number
            errors.append((n, exc))

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
