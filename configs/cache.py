"""Cache keys for config reads, and their invalidation after a write commits.

The cache is Django's default cache: Redis when REDIS_URL is set, else a file
cache shared by every process on the machine, so a delete made by the web
process is seen by a worker's next read.
"""

from django.core.cache import cache
from django.db import transaction

PREFIX = "configs:v1"


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


def invalidate(*keys: str) -> None:
    """Drop ``keys`` now and again once the transaction commits.

    The second delete covers a reader in another process that loaded the old
    row while this transaction was still open and cached it.
    """
    keys = [k for k in keys if k]
    if not keys:
        return
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys))
