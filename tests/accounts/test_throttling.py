"""Login throttling: a failure count covers a fixed window from its first failure, on either cache."""

import pickle
import time

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.filebased import FileBasedCache

from accounts.throttling import _keys, login_failure_record


@pytest.fixture(params=["file", pytest.param("redis", marks=pytest.mark.redis)])
def throttle_cache(request, settings, tmp_path):
    """Point the default cache at Django's file cache or a real Redis; yields a setter for its default timeout."""

    def use(timeout=300):
        if request.param == "file":
            backend = {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)}
        else:
            server = request.getfixturevalue("redis_server")
            backend = {"BACKEND": "kefu.cache.RedisCache", "LOCATION": server.url}
        settings.CACHES = {"default": {**backend, "TIMEOUT": timeout}}
        cache.clear()

    return use


def failures(username="victim"):
    return cache.get(_keys(None, username).user, 0)


def seconds_left(key: str) -> float:
    """How long the cache keeps ``key``, by the expiry it stored: the file cache's on its moved clock,
    Redis's own (a server's clock cannot be moved; the expiry it holds is what it will honour)."""
    backend = caches["default"]
    if isinstance(backend, FileBasedCache):
        with open(backend._key_to_file(key), "rb") as stored:
            return pickle.load(stored) - time.time()  # noqa: S301 (the test's own cache file)
    name = backend.make_and_validate_key(key)
    return backend._cache.get_client(name).pttl(name) / 1000


@pytest.mark.django_db
def test_the_count_outlives_the_caches_default_timeout(throttle_cache, settings, time_machine):
    time_machine.move_to(time.time(), tick=False)
    throttle_cache(timeout=1)  # Django's file cache saved an incremented value with this
    settings.KEFU_LOGIN_WINDOW_SECONDS = 60
    login_failure_record(ip="10.0.0.1", username="victim")
    login_failure_record(ip="10.0.0.1", username="victim")
    time_machine.shift(1.5)
    login_failure_record(ip="10.0.0.1", username="victim")
    assert failures() == 3
    assert 57 <= seconds_left(_keys(None, "victim").user) <= 59


@pytest.mark.django_db
def test_later_failures_do_not_extend_the_window(throttle_cache, settings, time_machine):
    time_machine.move_to(time.time(), tick=False)
    throttle_cache()
    settings.KEFU_LOGIN_WINDOW_SECONDS = 60
    login_failure_record(ip="10.0.0.1", username="victim")
    time_machine.shift(30)
    login_failure_record(ip="10.0.0.1", username="victim")
    assert failures() == 2
    assert 28 <= seconds_left(_keys(None, "victim").user) <= 30  # what is left of the first failure's window
    if isinstance(caches["default"], FileBasedCache):
        time_machine.shift(30.5)  # past the window of the first failure, inside that of the second
        assert failures() == 0
