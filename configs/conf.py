"""The configs app's settings: from Django settings when kefu/settings defines them, else the environment.

(kefu/settings is not this app's to edit; the variables are documented in .env.example.)
"""

import environ
from django.conf import settings

_env = environ.Env()


def _int(name: str, default: int) -> int:
    return int(getattr(settings, name, None) or _env.int(name, default=default))


def cache_seconds() -> int:
    """How long a config read may be served from the cache (writes invalidate it at once)."""
    return _int("KEFU_CONFIG_CACHE_SECONDS", 300)


def expiry_interval_seconds() -> int:
    """How often beat runs the expiry of temporary configs."""
    return _int("KEFU_CONFIG_EXPIRY_INTERVAL_SECONDS", 60)


def history_retention_days() -> int:
    """How long ``config_cleanup`` keeps the history of deleted configs."""
    return _int("KEFU_CONFIG_HISTORY_RETENTION_DAYS", 180)


def expired_retention_days() -> int:
    """How long ``config_cleanup`` keeps temporary configs after they expired."""
    return _int("KEFU_CONFIG_EXPIRED_RETENTION_DAYS", 30)
