"""The configs app's settings, read at call time so tests can override them."""

from django.conf import settings


def cache_seconds() -> int:
    """How long a config read may be served from the cache (writes invalidate it at once)."""
    return settings.KEFU_CONFIG_CACHE_SECONDS


def expiry_interval_seconds() -> int:
    """How often beat runs the expiry of temporary configs."""
    return settings.KEFU_CONFIG_EXPIRY_INTERVAL_SECONDS


def history_retention_days() -> int:
    """How long ``config_cleanup`` keeps the history of deleted configs."""
    return settings.KEFU_CONFIG_HISTORY_RETENTION_DAYS


def expired_retention_days() -> int:
    """How long ``config_cleanup`` keeps temporary configs after they expired."""
    return settings.KEFU_CONFIG_EXPIRED_RETENTION_DAYS
