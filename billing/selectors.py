"""Reads of the billing app: routing candidates, prices in force, costs, usage aggregates."""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Q, Sum

from . import conf
from .choices import Currency, PricingType, UsageStatus
from .models import ModelConfig, ModelPricing, UsageRecord

MICRO = Decimal("0.000001")
THOUSAND = Decimal(1000)


def config_candidates(*, capability: str, user=None, shop=None, config=None, snapshot=None) -> list[ModelConfig]:
    """Configs to try, in order, each once: the one asked for (or the shop's choice), the user's own keys,
    system defaults, then the other system configs by priority. Inactive configs and disabled providers
    are never returned. Read from the routing snapshot (billing.routing), not the database.

    Another person's key is never used: a config asked for, or chosen by the shop, that belongs to
    someone other than ``user`` is ignored (the usual order applies).
    """
    from . import routing

    snapshot = snapshot or routing.current()
    usable = [c for c in snapshot.configs if c.capability == capability]
    first_id = None
    if config is not None:
        first_id = config.pk if isinstance(config, ModelConfig) else int(config)
    elif shop is not None:
        first_id = snapshot.shop_choices.get((getattr(shop, "pk", shop), capability))
    user_id = user.pk if getattr(user, "is_authenticated", False) else None
    rest = [c for c in usable if c.owner_id is None or (user_id is not None and c.owner_id == user_id)]
    # the user's own first, then defaults, then priority (stable on id)
    rest.sort(key=lambda c: (c.owner_id is None, not c.is_default, c.priority, c.pk))
    first = [c for c in usable if c.pk == first_id and (c.owner_id is None or c.owner_id == user_id)]
    seen, ordered = set(), []
    for candidate in first + rest:
        if candidate.pk not in seen:
            seen.add(candidate.pk)
            ordered.append(candidate)
    return ordered


def prices_in_force(*, model_ids, at) -> dict[int, dict[str, tuple[Decimal, str]]]:
    """``{model_id: {pricing_type: (unit_price, currency)}}`` for the prices in force at ``at``.

    Where periods overlap (a data error billing_check reports) the latest start wins.
    """
    rows = (
        ModelPricing.objects.filter(model_id__in=list(model_ids), effective_from__lte=at)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=at))
        .order_by("effective_from")
        .values_list("model_id", "pricing_type", "unit_price", "currency")
    )
    table: dict[int, dict[str, tuple[Decimal, str]]] = defaultdict(dict)
    for model_id, pricing_type, unit_price, currency in rows:
        table[model_id][pricing_type] = (unit_price, currency)
    return table


def cost_of(prices: dict[str, tuple[Decimal, str]], *, input_tokens=0, output_tokens=0, images=0, calls=1) -> Decimal:
    """The cost in CNY of one call under ``prices`` (USD converted at KEFU_BILLING_USD_CNY_RATE), to 1e-6."""
    total = Decimal(0)
    for pricing_type, quantity in (
        (PricingType.INPUT_1K, Decimal(input_tokens) / THOUSAND),
        (PricingType.OUTPUT_1K, Decimal(output_tokens) / THOUSAND),
        (PricingType.IMAGE, Decimal(images)),
        (PricingType.CALL, Decimal(calls)),
    ):
        if pricing_type in prices and quantity:
            unit_price, currency = prices[pricing_type]
            amount = unit_price * quantity
            if currency == Currency.USD:
                amount *= conf.usd_cny_rate()
            total += amount
    return total.quantize(MICRO, rounding=ROUND_HALF_UP)


def estimate_input_tokens(messages_or_texts) -> int:
    """An upper-side guess of input tokens for budget reservations: a token per character plus overhead."""
    total = 0
    for item in messages_or_texts:
        content = item.get("content", "") if isinstance(item, dict) else item
        total += len(str(content)) + 8
    return total


# Usage reports -----------------------------------------------------------------------------

GROUPS = {
    "model": ("model_id", True),
    "shop": ("shop_id", True),
    "user": ("user_id", True),
    "config": ("config_id", True),
    "day": ("day", False),
    "status": ("status", False),
}


def period_bounds(date_from=None, date_to=None):
    """Aware datetimes for a report over local dates ``date_from`` .. ``date_to`` (both days included)."""
    from datetime import datetime, time, timedelta

    from django.utils import timezone

    def start_of(day):
        return timezone.make_aware(datetime.combine(day, time.min))

    start = start_of(date_from) if date_from else None
    end = start_of(date_to + timedelta(days=1)) if date_to else None
    return start, end


def usage_filter(*, queryset=None, date_from=None, date_to=None, shop=None, user=None, model=None, config=None,
                 status=None):
    """Usage rows in [date_from, date_to) and matching the other filters (each optional)."""
    qs = UsageRecord.objects.all() if queryset is None else queryset
    if date_from is not None:
        qs = qs.filter(created_at__gte=date_from)
    if date_to is not None:
        qs = qs.filter(created_at__lt=date_to)
    for name, value in (("shop", shop), ("user", user), ("model", model), ("config", config), ("status", status)):
        if value is not None:
            qs = qs.filter(**{name: value})
    return qs


def _totals_expr():
    return {
        "calls": Count("*"),
        "errors": Count("status", filter=Q(status=UsageStatus.ERROR)),  # a covered column: index-only scans
        "input_tokens": Sum("input_tokens"),
        "output_tokens": Sum("output_tokens"),
        "cost": Sum("cost"),
    }


def _clean(row: dict) -> dict:
    for key in ("input_tokens", "output_tokens"):
        row[key] = row.get(key) or 0
    row["cost"] = (row.get("cost") or Decimal(0)).quantize(MICRO)
    return row


def usage_totals(queryset) -> dict:
    return _clean(queryset.aggregate(**_totals_expr()))


def usage_grouped(queryset, *, by: str, limit: int | None = None) -> list[dict]:
    """Totals per ``by`` (model, shop, user, config, day, status), most expensive first (days in order)."""
    if by not in GROUPS:
        raise ValueError(by)
    key, labels = GROUPS[by]
    qs = queryset.order_by()
    grouped = qs.values(key).annotate(**_totals_expr())
    grouped = grouped.order_by(key) if by == "day" else grouped.order_by("-cost", key)
    if limit:
        grouped = grouped[:limit]
    rows = [_clean(dict(row)) for row in grouped]
    if labels:
        names = _labels(by, [row[key] for row in rows if row[key] is not None])
        for row in rows:
            row["label"] = names.get(row[key], "—") if row[key] is not None else "—"
    else:
        for row in rows:
            row["label"] = str(row[key])
    for row in rows:
        row["key"] = row.pop(key)
        if by == "day":
            row["key"] = row["key"].isoformat() if row["key"] else None
    return rows


def _labels(by: str, ids: list) -> dict:
    """Names of the grouped rows, read from their own tables (not by joining the usage rows)."""
    from accounts.models import User
    from customer_service.shops.models import Shop

    from .models import AIModel

    if not ids:
        return {}
    if by == "model":
        models = AIModel.objects.filter(pk__in=ids).select_related("provider")
        return {m.pk: f"{m.provider.code}/{m.code}" for m in models}
    if by == "shop":
        return dict(Shop.objects.filter(pk__in=ids).values_list("pk", "name"))
    if by == "user":
        return dict(User.objects.filter(pk__in=ids).values_list("pk", "username"))
    if by == "config":
        return dict(ModelConfig.objects.filter(pk__in=ids).values_list("pk", "name"))
    return {}


def usage_report(queryset, *, by: str | None = None, top: int = 10) -> dict:
    """The report of usage_report and /api/usage/aggregates: totals, by model, top configs (by cost), most
    active users (by calls), plus the rows grouped ``by`` model, shop, user, config, day or status.

    One GROUP BY model, config, user, shop whose few groups are summed in Python with exact Decimals
    (five aggregate queries would read the rows five times); by day or status adds one small GROUP BY
    of its own (adding the day to the big one makes PostgreSQL expect too many groups to hash, and sort).
    """
    if by is not None and by not in GROUPS:
        raise ValueError(by)
    keys = ["model_id", "config_id", "user_id", "shop_id"]
    qs = queryset.order_by()
    groups = list(qs.values(*keys).annotate(**_totals_expr()))

    def roll(key: str) -> dict:
        rolled: dict = {}
        for group in groups:
            row = rolled.setdefault(group[key], {"key": group[key], "calls": 0, "errors": 0, "input_tokens": 0,
                                                 "output_tokens": 0, "cost": Decimal(0)})
            for name in ("calls", "errors", "input_tokens", "output_tokens"):
                row[name] += group[name] or 0
            row["cost"] += group["cost"] or Decimal(0)
        return rolled

    def finish(by_name: str, rolled: dict, *, order: str = "cost", limit: int | None = None) -> list[dict]:
        rows = list(rolled.values())
        if by_name == "day":
            rows.sort(key=lambda r: (r["key"] is None, r["key"]))
        else:
            rows.sort(key=lambda r: (-r[order], str(r["key"])))
        rows = rows[:limit] if limit else rows
        names = _labels(by_name, [r["key"] for r in rows if r["key"] is not None]) if GROUPS[by_name][1] else {}
        for row in rows:
            row["cost"] = row["cost"].quantize(MICRO)
            if GROUPS[by_name][1]:
                row["label"] = names.get(row["key"], "—") if row["key"] is not None else "—"
            else:
                row["label"] = str(row["key"])
            if by_name == "day" and row["key"] is not None:
                row["key"] = row["key"].isoformat()
        return rows

    totals = {"calls": 0, "errors": 0, "input_tokens": 0, "output_tokens": 0, "cost": Decimal(0)}
    for group in groups:
        for name in ("calls", "errors", "input_tokens", "output_tokens"):
            totals[name] += group[name] or 0
        totals["cost"] += group["cost"] or Decimal(0)
    totals["cost"] = totals["cost"].quantize(MICRO)
    report = {
        "totals": totals,
        "by_model": finish("model", roll("model_id")),
        "top_configs": finish("config", roll("config_id"), limit=top),
        "top_users": finish("user", roll("user_id"), order="calls", limit=top),
    }
    if by:
        report["by"] = by
        report["rows"] = usage_grouped(queryset, by=by) if by in ("day", "status") else finish(by, roll(GROUPS[by][0]))
    return report


# Consistency checks ------------------------------------------------------------------------


def billing_problems(*, at=None) -> list[dict]:
    """What `manage.py billing_check` reports: ``{"level": "error"|"warning", "kind", "text"}`` each.

    Errors: an active config without a key; a config whose model has no price in force; price periods
    of one model and type that overlap or leave a gap. Warnings: catalogue models never used; usage
    whose config was deleted.
    """
    from django.utils import timezone

    from .choices import Capability
    from .models import AIModel

    at = at or timezone.now()
    problems: list[dict] = []

    def add(level, kind, text):
        problems.append({"level": level, "kind": kind, "text": text})

    configs = list(ModelConfig.objects.select_related("provider", "model"))
    prices = prices_in_force(model_ids={c.model_id for c in configs if c.model_id}, at=at)
    for config in configs:
        if config.is_active and not config.api_key:
            add("error", "config_without_key", f"config #{config.pk} '{config.name}' is active but has no API key")
        needed = [PricingType.INPUT_1K] if config.capability == Capability.EMBEDDING else [
            PricingType.INPUT_1K, PricingType.OUTPUT_1K]
        have = prices.get(config.model_id, {}) if config.model_id else {}
        missing = [p for p in needed if p not in have]
        if missing and not (PricingType.CALL in have or PricingType.IMAGE in have):
            add("error", "config_without_price",
                f"config #{config.pk} '{config.name}' ({config.provider.code}/{config.model_code}) has no "
                f"{', '.join(missing)} price in force")

    rows = ModelPricing.objects.order_by("model_id", "pricing_type", "effective_from").values_list(
        "model_id", "model__code", "pricing_type", "effective_from", "effective_to")
    previous = None
    for model_id, code, pricing_type, start, end in rows:
        if previous and previous[0] == model_id and previous[2] == pricing_type:
            prev_end = previous[4]
            if prev_end is None or prev_end > start:
                add("error", "price_overlap",
                    f"{code} {pricing_type}: the price from {previous[3]:%Y-%m-%d %H:%M} is still in force when the "
                    f"one from {start:%Y-%m-%d %H:%M} starts")
            elif prev_end < start:
                add("error", "price_gap", f"{code} {pricing_type}: no price from {prev_end:%Y-%m-%d %H:%M} to "
                                          f"{start:%Y-%m-%d %H:%M}")
        previous = (model_id, code, pricing_type, start, end)

    used = UsageRecord.objects.order_by().values_list("model_id", flat=True).distinct()
    for model in AIModel.objects.filter(enabled=True).exclude(pk__in=used).select_related("provider"):
        add("warning", "model_never_used", f"{model.provider.code}/{model.code} was never used")
    orphaned = UsageRecord.objects.filter(config__isnull=True).exclude(config_name="").count()
    if orphaned:
        add("warning", "usage_config_gone", f"{orphaned} usage records belong to configs that were deleted")
    return problems
