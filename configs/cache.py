"""Cached config reads and their invalidation, correct across processes.

The cache is Django's default cache: Redis when REDIS_URL is set, else a file
cache shared by every process on the machine.

Each logical key has a generation token (``<key>:gen``, never expiring) and
the data lives under ``<key>:<token>``. A write replaces the token right away
and again once its transaction commits. A reader that loaded the old row
just before the commit and stores it late stores it under a token nobody
uses any more, so no stale value survives a commit (a plain delete-on-commit
loses that race; the bench in tests/configs/bench_config_reads.py hit it).
A read made inside a transaction is never stored: it may see uncommitted rows.

Each process keeps the entries it read, by generation: a read asks the shared cache for the key's token
(that is what makes a write seen at once everywhere) and fetches the entry only when the token changed or
the entry's time ran out. An entry is never changed under its token, so the copy is the shared one.

Inside :func:`unit_of_work` (every Celery task runs in one) each key is fetched from the shared cache
at most once: a task deciding on a buyer's line reads the shop's settings four times, and one
consistent reading is what it should act on anyway. A write made in the unit of work drops its keys
from it, so the writer reads its own write.
"""

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction

# Changed whenever an entry's form changes: during an upgrade, processes of both versions share the cache.
# v3: config entries carry expires_at; v4: a config never saved is cached as {}.
PREFIX = "configs:v4"

_unit_of_work: ContextVar[dict[str, Any] | None] = ContextVar("configs_unit_of_work", default=None)


def timeout() -> int:
    from .conf import cache_seconds

    return cache_seconds()


def owner_key(*, user_id: int | None, shop_id: int | None, template_code: str, key: str) -> str:
    owner = f"shop:{shop_id}" if shop_id else f"user:{user_id}"
    return f"{PREFIX}:config:{owner}:{template_code}:{key}"


def config_key(config) -> str:
    return owner_key(user_id=config.user_id, shop_id=config.shop_id, template_code=config.template.code, key=config.key)


def template_key(code: str) -> str:
    return f"{PREFIX}:template:{code}"


def system_key(key: str) -> str:
    return f"{PREFIX}:system:{key}"


def _gen_key(key: str) -> str:
    return f"{key}:gen"


def _data_key(key: str) -> str:
    token = cache.get(_gen_key(key))
    if token is None:
        cache.add(_gen_key(key), uuid.uuid4().hex, timeout=None)
        token = cache.get(_gen_key(key)) or "none"
    return f"{key}:{token}"


def peek(key: str) -> Any:
    """What the cache holds for ``key`` now (tests and diagnostics)."""
    return cache.get(_data_key(key))


@contextmanager
def unit_of_work() -> Iterator[None]:
    """Within, each key is fetched from the shared cache at most once (see the module docstring).

    Nested units share nothing: each starts empty and the outer one is back when it ends.
    """
    token = _unit_of_work.set({})
    try:
        yield
    finally:
        _unit_of_work.reset(token)


_task_units: dict[str, Any] = {}

# This process's entries: logical key → (data key, entry, monotonic time it may be served until).
_kept: dict[str, tuple[str, Any, float]] = {}


def task_unit_begin(task_id: str | None = None, **_signal) -> None:
    """Celery ``task_prerun``: the task runs in its own unit of work."""
    unit = unit_of_work()
    unit.__enter__()
    _task_units[task_id or ""] = unit


def task_unit_end(task_id: str | None = None, **_signal) -> None:
    """Celery ``task_postrun`` (sent whatever the task's outcome)."""
    unit = _task_units.pop(task_id or "", None)
    if unit is not None:
        unit.__exit__(None, None, None)


def read_through(key: str, load: Callable[[], Any]) -> Any:
    """The cached value of ``key``, else ``load()`` (stored unless None or inside a transaction)."""
    seen = _unit_of_work.get()
    if seen is not None and key in seen:
        return seen[key]
    data_key = _data_key(key)
    kept = _kept.get(key)
    if kept is not None and kept[0] == data_key and kept[2] > time.monotonic():
        entry = kept[1]
    else:
        entry = cache.get(data_key)
        if entry is None:
            entry = load()
            if entry is None or connection.in_atomic_block:
                return entry
            cache.set(data_key, entry, timeout())
        _kept[key] = (data_key, entry, time.monotonic() + timeout())
    if seen is not None:
        seen[key] = entry
    return entry


def invalidate(*keys: str) -> None:
    """Give ``keys`` new generations now and again once the transaction commits."""
    keys = tuple(k for k in keys if k)
    if not keys:
        return

    def bump():
        cache.set_many({_gen_key(k): uuid.uuid4().hex for k in keys}, timeout=None)

    seen = _unit_of_work.get()
    if seen is not None:
        for key in keys:
            seen.pop(key, None)
    bump()
    transaction.on_commit(bump)
