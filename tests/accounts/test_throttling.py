"""Login throttling: a failure count covers a fixed window from its first failure, on either cache."""

import time

import pytest
from django.core.cache import cache

from accounts.throttling import _keys, login_failure_record


@pytest.fixture(params=["file", pytest.param("redis", marks=pytest.mark.redis)])
def throttle_cache(request, settings, tmp_path):
    """Point the default cache at Django's file cache or a real Redis; yields a setter for its default timeout."""

    def use(timeout=300):
        if request.param == "file":
            backend = {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)}
        else:
            server = request.getfixturevalue("redis_server")
            backend = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": server.url}
        settings.CACHES = {"default": {**backend, "TIMEOUT": timeout}}
        cache.clear()

    return use


def failures(username="victim"):
    return cache.get(_keys(None, username).user, 0)


def sleep_until(moment):
    time.sleep(max(0.0, moment - time.monotonic()))


@pytest.mark.django_db
def test_the_count_outlives_the_caches_default_timeout(throttle_cache, settings):
    throttle_cache(timeout=1)  # Django's file cache saved an incremented value with this
    settings.KEFU_LOGIN_WINDOW_SECONDS = 60
    login_failure_record(ip="10.0.0.1", username="victim")
    login_failure_record(ip="10.0.0.1", username="victim")
    time.sleep(1.5)
    login_failure_record(ip="10.0.0.1", username="victim")
    assert failures() == 3


@pytest.mark.django_db
def test_later_failures_do_not_extend_the_window(throttle_cache, settings):
    throttle_cache()
    settings.KEFU_LOGIN_WINDOW_SECONDS = 3
    first = time.monotonic()
    login_failure_record(ip="10.0.0.1", username="victim")
    sleep_until(first + 1.5)
    login_failure_record(ip="10.0.0.1", username="victim")
    assert failures() == 2
    sleep_until(first + 3.3)  # past the window of the first failure, inside that of the second
    assert failures() == 0
