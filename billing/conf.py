"""Billing settings: read from Django settings when defined there, else from the environment.

Every name is listed, with its default, under "# --- Billing ---" in .env.example.
"""

import os
from decimal import Decimal

from django.conf import settings


def _get(name: str, default: str) -> str:
    return str(getattr(settings, name, os.environ.get(name, default)))


def breaker_failures() -> int:
    """Failures within the window that open a config's circuit breaker."""
    return int(_get("KEFU_BILLING_BREAKER_FAILURES", "5"))


def breaker_window_seconds() -> float:
    return float(_get("KEFU_BILLING_BREAKER_WINDOW_SECONDS", "60"))


def breaker_cooldown_seconds() -> float:
    """How long an opened breaker skips its config before one trial request (half-open)."""
    return float(_get("KEFU_BILLING_BREAKER_COOLDOWN_SECONDS", "30"))


def usd_cny_rate() -> Decimal:
    """Converts USD list prices to CNY, the currency of costs, budgets and reports."""
    return Decimal(_get("KEFU_BILLING_USD_CNY_RATE", "7.20"))


def default_max_tokens() -> int:
    """Output tokens reserved against budgets when a config sets no max tokens."""
    return int(_get("KEFU_BILLING_DEFAULT_MAX_TOKENS", "1024"))


def default_timeout_seconds() -> float:
    return float(_get("KEFU_BILLING_DEFAULT_TIMEOUT_SECONDS", "30"))
