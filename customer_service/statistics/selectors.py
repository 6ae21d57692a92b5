"""Reads of the daily statistics: rows a person may see, totals over a range, day series for the charts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Max, QuerySet, Sum
from django.utils import timezone

from customer_service.models import DailyStatistics, Shop

from .services import FIGURES

COUNTS = [name for name in FIGURES if name not in ("first_reply_median_seconds", "first_reply_p95_seconds", "ai_cost")]
TIMES = ["first_reply_median_seconds", "first_reply_p95_seconds"]
RATES = {
    # rate: (numerator, denominator)
    "auto_answer_rate": ("auto_answered", "messages"),
    "kb_hit_rate": ("kb_hits", "messages"),
    "ai_accuracy": ("approved", "reviewed"),
    "response_rate_3_minutes": ("rounds_rated_in_3_minutes", "rounds_rated"),
}
PERIODS = (7, 30, 90)


def daily_statistics_list(*, user, shop=None, date_from: date | None = None,
                          date_to: date | None = None) -> QuerySet[DailyStatistics]:
    """The rows of the shops ``user`` belongs to (superadmins: every shop), optionally one shop and a day range."""
    rows = DailyStatistics.objects.for_user(user).select_related("shop")
    if shop is not None:
        rows = rows.filter(shop=shop)
    if date_from is not None:
        rows = rows.filter(day__gte=date_from)
    if date_to is not None:
        rows = rows.filter(day__lte=date_to)
    return rows


def rates_of(figures: dict) -> dict:
    """The derived rates of a row or of totals (None where there is nothing to divide by)."""
    return {
        rate: round(figures[part] / figures[whole], 4) if figures.get(whole) else None
        for rate, (part, whole) in RATES.items()
    }


def statistics_totals(rows: QuerySet[DailyStatistics]) -> dict:
    """Every count summed over ``rows``, the AI cost summed, their rates, and the slowest day's times.

    Medians do not add up: over several days or shops the times given are the largest of the rows' (the
    slowest day of the slowest shop), named ``…_max``.
    """
    sums = rows.aggregate(
        **{name: Sum(name) for name in [*COUNTS, "ai_cost"]},
        **{f"{name}_max": Max(name) for name in TIMES},
    )
    totals = {name: sums[name] or 0 for name in COUNTS}
    totals["ai_cost"] = sums["ai_cost"] or Decimal("0")
    totals.update({f"{name}_max": sums[f"{name}_max"] for name in TIMES})
    totals.update(rates_of(totals))
    return totals


@dataclass(frozen=True)
class Period:
    first: date
    last: date

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def period_ending_today(days: int, *, today: date | None = None) -> Period:
    today = today or timezone.localdate()
    return Period(first=today - timedelta(days=days - 1), last=today)


def _empty() -> dict:
    return dict.fromkeys(COUNTS, 0) | {"ai_cost": Decimal("0")} | dict.fromkeys(TIMES)


def statistics_series(*, user, period: Period, shop=None) -> list[dict]:
    """One entry a day of ``period`` (days without a row: zeros), for one shop or summed over the person's shops.

    Each entry: ``day``, every count, ``ai_cost``, the rates, and the times (over several shops: the
    slowest shop's).
    """
    rows = daily_statistics_list(user=user, shop=shop, date_from=period.first, date_to=period.last)
    by_day: dict[date, dict] = {}
    for row in rows.order_by():
        entry = by_day.setdefault(row.day, _empty())
        for name in COUNTS:
            entry[name] += getattr(row, name)
        entry["ai_cost"] += row.ai_cost
        for name in TIMES:
            value = getattr(row, name)
            if value is not None and (entry[name] is None or value > entry[name]):
                entry[name] = value
    series = []
    for day in period.days:
        entry = by_day.get(day) or _empty()
        series.append({"day": day, **entry, **rates_of(entry)})
    return series


def statistics_today(*, user, today: date | None = None) -> list[tuple[Shop, DailyStatistics | None]]:
    """Each shop the person sees with its row of today (None before the first roll-up of the day)."""
    today = today or timezone.localdate()
    shops = list(Shop.objects.for_user(user).order_by("name"))
    rows = {row.shop_id: row for row in DailyStatistics.objects.filter(shop__in=shops, day=today)}
    return [(shop, rows.get(shop.pk)) for shop in shops]
