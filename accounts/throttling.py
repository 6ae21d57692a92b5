"""Login throttling: failures from one ip or for one username slow, then lock, sign-in.

Counters live in Django's cache (Redis in production, the shared file cache on
one machine) so every web process sees the same count.
"""

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from kefu.exceptions import KefuError


class LoginLocked(KefuError):
    code = "login_locked"
    status_code = 429


@dataclass(frozen=True)
class _Keys:
    ip: str
    user: str


def _keys(ip: str | None, username: str | None) -> _Keys:
    return _Keys(ip=f"login-fail:ip:{ip or '-'}", user=f"login-fail:user:{(username or '').strip().lower()}")


def _lock_key(key: str) -> str:
    return key + ":locked"


def _start_key(key: str) -> str:
    return key + ":since"


def login_throttle_check(*, ip: str | None, username: str | None) -> None:
    """Refuse a locked ip or username; wait a little after a few failures.

    Raises:
        LoginLocked: with the seconds left before another attempt is allowed.
    """
    keys = _keys(ip, username)
    for key in (keys.ip, keys.user):
        locked_until = cache.get(_lock_key(key))
        if locked_until and locked_until > time.time():
            wait = int(locked_until - time.time()) + 1
            raise LoginLocked(
                _("Too many failed sign-in attempts. Try again in %(minutes)d minute(s).")
                % {"minutes": max(1, (wait + 59) // 60)},
                detail={"retry_after_seconds": wait},
            )
    failures = max(cache.get(keys.ip, 0), cache.get(keys.user, 0))
    if failures >= settings.KEFU_LOGIN_SLOW_AFTER and settings.KEFU_LOGIN_DELAY_SECONDS:
        time.sleep(min(settings.KEFU_LOGIN_DELAY_SECONDS * (failures - settings.KEFU_LOGIN_SLOW_AFTER + 1), 5))


def login_failure_record(*, ip: str | None, username: str | None) -> None:
    """Count a failed sign-in against the ip and the username; lock either at KEFU_LOGIN_LOCK_AFTER.

    A count covers KEFU_LOGIN_WINDOW_SECONDS from its first failure; later failures
    do not extend it. The window's start is kept beside the counter, and after each
    increment the counter's expiry is set to what is left of the window: Redis keeps
    a key's expiry on INCR, but Django's file cache saves an incremented value with
    its default timeout (300 s), so the expiry is always set explicitly.
    """
    keys = _keys(ip, username)
    window = settings.KEFU_LOGIN_WINDOW_SECONDS
    now = time.time()
    for key in (keys.ip, keys.user):
        cache.add(_start_key(key), now, window)
        started = cache.get(_start_key(key), now)
        # Whole seconds (Redis counts in them), rounded down: the window never grows.
        remaining = max(1, math.floor(started + window - now))
        cache.add(key, 0, remaining)
        try:
            count = cache.incr(key)  # atomic on Redis, so parallel failures all count
        except ValueError:  # expired between add and incr
            cache.set(key, 1, remaining)
            count = 1
        cache.touch(key, remaining)
        if count >= settings.KEFU_LOGIN_LOCK_AFTER:
            cache.set(_lock_key(key), time.time() + settings.KEFU_LOGIN_LOCK_SECONDS, settings.KEFU_LOGIN_LOCK_SECONDS)


def login_success_record(*, username: str | None) -> None:
    keys = _keys(None, username)
    cache.delete_many([keys.user, _start_key(keys.user), _lock_key(keys.user)])
