"""An in-process snapshot of what the router reads on every call: usable configs, shop choices, prices, budgets.

Reading them from the database costs more than the whole provider round trip on a local
network, so each process keeps one snapshot and reuses it while

1. the routing version in Django's cache (shared by every process) is unchanged: saving or
   deleting a provider, model, config, price, budget or shop choice bumps it (signals, at
   once and again on commit, so no process can cache data from before the commit), and
2. it is younger than MAX_AGE_SECONDS and no price period has started or ended since it
   was loaded (prices are looked up for the time of the call).

Code that changes these tables with ``QuerySet.update()`` (no signals) calls :func:`invalidate`.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

VERSION_KEY = "billing:routing:version"
MAX_AGE_SECONDS = 30.0


@dataclass
class Snapshot:
    version: str
    loaded_at: float
    valid_until: float
    configs: list = field(default_factory=list)  # usable ModelConfigs, provider/model loaded, routing order
    shop_choices: dict = field(default_factory=dict)  # (shop_id, capability) -> config id
    prices: dict = field(default_factory=dict)  # model_id -> [(type, price, currency, start, end)]
    shop_budgets: dict = field(default_factory=dict)  # shop_id -> Budget (active)
    config_budgets: dict = field(default_factory=dict)  # config_id -> Budget (active)

    def prices_at(self, model_id: int, at: datetime) -> dict[str, tuple[Decimal, str]]:
        """``{pricing_type: (unit_price, currency)}`` in force at ``at`` (the latest start wins on overlap)."""
        table: dict[str, tuple[Decimal, str]] = {}
        for pricing_type, unit_price, currency, start, end in self.prices.get(model_id, ()):
            if start <= at and (end is None or at < end):
                table[pricing_type] = (unit_price, currency)  # rows come ordered by start
        return table


_lock = threading.Lock()
_snapshot: Snapshot | None = None


def invalidate() -> None:
    """Make every process reload its snapshot (now, and once more when the current transaction commits)."""
    cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None))


def _version() -> str:
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
        version = cache.get(VERSION_KEY) or "unversioned"
    return version


def current() -> Snapshot:
    """The snapshot to route with, reloaded when stale."""
    global _snapshot
    version = _version()
    snapshot = _snapshot
    if snapshot is not None and snapshot.version == version and time.time() < snapshot.valid_until:
        return snapshot
    with _lock:
        snapshot = _snapshot
        if snapshot is None or snapshot.version != version or time.time() >= snapshot.valid_until:
            snapshot = _snapshot = _load(version)
    return snapshot


def _load(version: str) -> Snapshot:
    from .models import Budget, ModelConfig, ModelPricing, ShopModelChoice

    now = timezone.now()
    configs = list(ModelConfig.objects.usable().select_related("provider", "model"))
    for config in configs:
        config.api_key  # noqa: B018 - decrypt once, here, not on every call
    budgets = list(Budget.objects.filter(is_active=True))
    snapshot = Snapshot(
        version=version,
        loaded_at=time.time(),
        valid_until=time.time() + MAX_AGE_SECONDS,
        configs=configs,
        shop_choices={
            (shop_id, capability): config_id
            for shop_id, capability, config_id in ShopModelChoice.objects.values_list("shop_id", "capability",
                                                                                     "config_id")
        },
        shop_budgets={b.shop_id: b for b in budgets if b.shop_id},
        config_budgets={b.config_id: b for b in budgets if b.config_id},
    )
    rows = (
        ModelPricing.objects.filter(model_id__in={c.model_id for c in configs})
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=now))
        .order_by("effective_from")
        .values_list("model_id", "pricing_type", "unit_price", "currency", "effective_from", "effective_to")
    )
    next_change = None
    for model_id, pricing_type, unit_price, currency, start, end in rows:
        snapshot.prices.setdefault(model_id, []).append((pricing_type, unit_price, currency, start, end))
        for boundary in (start, end):
            if boundary is not None and boundary > now and (next_change is None or boundary < next_change):
                next_change = boundary
    if next_change is not None:
        snapshot.valid_until = min(snapshot.valid_until, time.time() + (next_change - now).total_seconds())
    return snapshot


def connect_signals() -> None:
    """Bump the routing version whenever a row the snapshot holds is saved or deleted (called in ready())."""
    from django.db.models.signals import post_delete, post_save

    from .models import AIModel, Budget, ModelConfig, ModelPricing, Provider, ShopModelChoice

    for model in (Provider, AIModel, ModelConfig, ModelPricing, Budget, ShopModelChoice):
        post_save.connect(_bump, sender=model, dispatch_uid=f"billing-routing-{model.__name__}-save")
        post_delete.connect(_bump, sender=model, dispatch_uid=f"billing-routing-{model.__name__}-delete")


def _bump(sender, **kwargs):
    invalidate()
