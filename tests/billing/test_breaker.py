"""The half-open circuit breaker lets exactly one trial through, whatever the cache backend."""

import threading
import time

import pytest
from django.core.cache import cache

from billing import breaker

THREADS, ROUNDS = 12, 40


def _trials_granted_per_round(first_config_id: int) -> list[int]:
    granted = []
    for round_number in range(ROUNDS):
        config_id = first_config_id + round_number
        cache.set(breaker._key(config_id, "opened_until"), time.time() - 1, timeout=60)  # cool-down over
        barrier, allowed, lock = threading.Barrier(THREADS), [], threading.Lock()

        def ask(config_id=config_id, barrier=barrier, allowed=allowed, lock=lock):
            barrier.wait()
            got, observed = breaker.allow(config_id)
            assert observed == breaker.HALF_OPEN
            with lock:
                allowed.append(got)

        threads = [threading.Thread(target=ask) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        granted.append(sum(allowed))
    return granted


def test_one_half_open_trial_on_the_file_cache_with_concurrent_callers():
    from django.core.cache import caches
    from django.core.cache.backends.filebased import FileBasedCache

    assert isinstance(caches["default"], FileBasedCache)  # the test settings' cache, the default without Redis
    assert _trials_granted_per_round(1000) == [1] * ROUNDS


def test_one_half_open_trial_on_redis_with_concurrent_callers(redis_server, settings):
    settings.CACHES = {"default": {"BACKEND": "kefu.cache.RedisCache",
                                   "LOCATION": redis_server.url, "KEY_PREFIX": "breaker-test"}}
    cache.clear()
    try:
        assert _trials_granted_per_round(5000) == [1] * ROUNDS
    finally:
        cache.clear()


def test_a_released_trial_can_be_taken_again(settings):
    config_id = 77
    cache.set(breaker._key(config_id, "opened_until"), time.time() - 1, timeout=60)
    assert breaker.allow(config_id) == (True, breaker.HALF_OPEN)
    assert breaker.allow(config_id) == (False, breaker.HALF_OPEN)
    breaker.release_trial(config_id)
    assert breaker.allow(config_id) == (True, breaker.HALF_OPEN)


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()
