"""A circuit breaker per config, its state in Django's cache so every process shares it.

closed ── N failures within the window ──► open ── cool-down over ──► half-open
  ▲                                                                   │ one trial request
  └──────────────── trial succeeds ◄──────────────────────────────────┘ trial fails → open again

Quota exhaustion opens the breaker at once: retrying an empty account only adds failures.
Counting is best-effort across processes (a lost increment delays opening by one failure);
the half-open trial is guarded by ``cache.add``, which is atomic on Redis and local memory.
On the file cache (the default without Redis) ``add`` is a read then a write, so the trial is
taken under an OS file lock in the cache directory (flock, or msvcrt.locking on Windows): the
operating system releases it when its holder dies, so no stale lock can block the trial.
"""

from __future__ import annotations

import contextlib
import os
import time

from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.filebased import FileBasedCache

from . import conf

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
_KEEP = 7 * 24 * 3600  # the "opened until" mark stays until a success closes the breaker


def _key(config_id: int, part: str) -> str:
    return f"billing:breaker:{config_id}:{part}"


def state(config_id: int) -> str:
    opened_until = cache.get(_key(config_id, "opened_until"))
    if opened_until is None:
        return CLOSED
    return OPEN if time.time() < opened_until else HALF_OPEN


def allow(config_id: int, *, trial_seconds: float = 60.0) -> tuple[bool, str]:
    """May a request go to this config now? Returns (allowed, state); in half-open only one caller gets True."""
    current = state(config_id)
    if current == CLOSED:
        return True, current
    if current == OPEN:
        return False, current
    with _exclusive():
        return bool(cache.add(_key(config_id, "trial"), 1, timeout=trial_seconds)), current


@contextlib.contextmanager
def _exclusive():
    """Make ``cache.add`` atomic across threads and processes where the cache backend does not."""
    backend = caches[DEFAULT_CACHE_ALIAS]  # ``cache`` is a proxy: isinstance needs the backend itself
    directory = getattr(backend, "_dir", None)
    if not isinstance(backend, FileBasedCache) or not directory:
        yield
        return
    os.makedirs(directory, exist_ok=True)
    # Not a .djcache file: the cache's cull and clear() leave it alone.
    with open(os.path.join(directory, "billing-breaker.lock"), "a+b") as handle:
        if os.name == "nt":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)  # retries for up to ~10 s
            try:
                yield
            finally:
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def record_success(config_id: int, observed_state: str) -> None:
    """Close the breaker after a successful trial; a success while closed changes nothing (no cache write)."""
    if observed_state != CLOSED:
        cache.delete_many([_key(config_id, p) for p in ("opened_until", "trial", "failures")])


def record_failure(config_id: int, observed_state: str, *, open_now: bool = False) -> str:
    """Count a failure; open the breaker when the threshold is reached. Returns the new state."""
    now = time.time()
    if observed_state != CLOSED or open_now:
        _open(config_id, now)
        return OPEN
    window = conf.breaker_window_seconds()
    failures = [t for t in (cache.get(_key(config_id, "failures")) or []) if t > now - window]
    failures.append(now)
    if len(failures) >= conf.breaker_failures():
        _open(config_id, now)
        return OPEN
    cache.set(_key(config_id, "failures"), failures, timeout=int(window) + 1)
    return CLOSED


def _open(config_id: int, now: float) -> None:
    cache.set(_key(config_id, "opened_until"), now + conf.breaker_cooldown_seconds(), timeout=_KEEP)
    cache.delete_many([_key(config_id, "trial"), _key(config_id, "failures")])


def release_trial(config_id: int) -> None:
    """Give the half-open trial back when the caller did not use it (say, its budget was used up)."""
    cache.delete(_key(config_id, "trial"))


def reset(config_id: int) -> None:
    cache.delete_many([_key(config_id, p) for p in ("opened_until", "trial", "failures")])
