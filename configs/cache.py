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
"""

import uuid
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction

PREFIX = "configs:v3"  # v3: config entries carry expires_at


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


def read_through(key: str, load: Callable[[], Any]) -> Any:
    """The cached value of ``key``, else ``load()`` (stored unless None or inside a transaction)."""
    data_key = _data_key(key)
    entry = cache.get(data_key)
    if entry is not None:
        return entry
    entry = load()
    if entry is not None and not connection.in_atomic_block:
        cache.set(data_key, entry, timeout())
    return entry


def invalidate(*keys: str) -> None:
    """Give ``keys`` new generations now and again once the transaction commits."""
    keys = tuple(k for k in keys if k)
    if not keys:
        return

    def bump():
        cache.set_many({_gen_key(k): uuid.uuid4().hex for k in keys}, timeout=None)

    bump()
    transaction.on_commit(bump)
