"""Login throttling that an attacker cannot turn against the account's owner.

Failures are counted per source and per username, over a fixed window from the first one:

1. **The failing source is refused** for ``KEFU_LOGIN_LOCK_SECONDS``: the same username from the
   same ip (the pair) after ``KEFU_LOGIN_LOCK_AFTER`` failures, and any username from that ip
   after ``KEFU_LOGIN_IP_LOCK_AFTER`` (higher: several people may sign in from one office address).
2. **A username guessed from many addresses is slowed, never locked**: from
   ``KEFU_LOGIN_SLOW_AFTER`` failures (from anywhere) each attempt on it waits a little longer,
   up to ``MAX_DELAY_SECONDS``. Locking the username itself would hand anyone a switch that
   shuts its owner out (five wrong passwords from anywhere used to lock the superadmin out of
   every address); the owner, from an address that has not been failing, still gets in.
3. A sign-in that succeeds clears its pair's count.

Counters live in Django's cache (Redis in production, the shared file cache on one machine)
so every web process sees the same count.
"""

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from kefu.exceptions import KefuError

MAX_DELAY_SECONDS = 5


class LoginLocked(KefuError):
    """The source is refused for ``retry_after`` seconds (sent as the 429's Retry-After header)."""

    code = "login_locked"
    status_code = 429

    def __init__(self, retry_after: int):
        super().__init__(
            _("Too many failed sign-in attempts. Try again in %(minutes)d minute(s).")
            % {"minutes": max(1, (retry_after + 59) // 60)},
            detail={"retry_after_seconds": retry_after},
        )
        self.retry_after = retry_after

    @property
    def headers(self) -> dict:
        return {"Retry-After": str(self.retry_after)}


@dataclass(frozen=True)
class _Keys:
    ip: str
    user: str
    pair: str

    @property
    def locked_sources(self) -> tuple[str, str]:
        return (self.pair, self.ip)

    def lock_after(self, key: str) -> int | None:
        """Failures that lock ``key``; None: never locked (the username alone)."""
        if key == self.pair:
            return settings.KEFU_LOGIN_LOCK_AFTER
        if key == self.ip:
            return settings.KEFU_LOGIN_IP_LOCK_AFTER
        return None


def _keys(ip: str | None, username: str | None) -> _Keys:
    # A digest, not the name: a username as typed may hold anything (spaces, control characters),
    # which some caches refuse in keys.
    name = hashlib.sha256((username or "").strip().lower().encode()).hexdigest()[:32]
    source = ip or "-"
    return _Keys(ip=f"login-fail:ip:{source}", user=f"login-fail:user:{name}", pair=f"login-fail:pair:{source}:{name}")


def _lock_key(key: str) -> str:
    return key + ":locked"


def _start_key(key: str) -> str:
    return key + ":since"


def login_throttle_check(*, ip: str | None, username: str | None) -> None:
    """Refuse a locked source (this ip with this username, or this ip); wait a little on a username
    or source that keeps failing.

    Raises:
        LoginLocked: with the seconds left before another attempt from this source is allowed.
    """
    keys = _keys(ip, username)
    now = time.time()
    for key in keys.locked_sources:
        locked_until = cache.get(_lock_key(key))
        if locked_until and locked_until > now:
            raise LoginLocked(math.ceil(locked_until - now))
    delay = login_delay_seconds(ip=ip, username=username)
    if delay:
        time.sleep(delay)


def login_delay_seconds(*, ip: str | None, username: str | None) -> float:
    """How long an attempt waits before its password is checked: from KEFU_LOGIN_SLOW_AFTER failures
    of the username (from any address), of this address or of the pair, a little more per failure."""
    keys = _keys(ip, username)
    failures = max(cache.get_many([keys.pair, keys.ip, keys.user]).values(), default=0)
    if failures < settings.KEFU_LOGIN_SLOW_AFTER:
        return 0.0
    steps = failures - settings.KEFU_LOGIN_SLOW_AFTER + 1
    return min(settings.KEFU_LOGIN_DELAY_SECONDS * steps, MAX_DELAY_SECONDS)


def login_failure_record(*, ip: str | None, username: str | None) -> None:
    """Count a failed sign-in against the pair, the ip and the username; lock the pair at
    KEFU_LOGIN_LOCK_AFTER, the ip at KEFU_LOGIN_IP_LOCK_AFTER (the username is only ever slowed).

    A count covers KEFU_LOGIN_WINDOW_SECONDS from its first failure; later failures
    do not extend it. The window's start is kept beside the counter, and after each
    increment the counter's expiry is set to what is left of the window: Redis keeps
    a key's expiry on INCR, but Django's file cache saves an incremented value with
    its default timeout (300 s), so the expiry is always set explicitly.
    """
    keys = _keys(ip, username)
    window = settings.KEFU_LOGIN_WINDOW_SECONDS
    now = time.time()
    for key in (keys.pair, keys.ip, keys.user):
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
        lock_after = keys.lock_after(key)
        if lock_after is not None and count >= lock_after:
            lock_seconds = settings.KEFU_LOGIN_LOCK_SECONDS
            cache.set(_lock_key(key), time.time() + lock_seconds, lock_seconds)


def login_success_record(*, ip: str | None, username: str | None) -> None:
    """A sign-in succeeded: this address's count for the username starts over."""
    keys = _keys(ip, username)
    cache.delete_many([keys.pair, _start_key(keys.pair), _lock_key(keys.pair)])
