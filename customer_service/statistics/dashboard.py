"""What the admin shows of the statistics: the index's block (today per shop, 30-day charts with a shop and
period picker), a shop's chart per figure, and each chart's table as CSV or XLSX."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse

from customer_service.models import Shop
from kefu import transfer

from .charts import CHARTS, DASHBOARD_CHARTS, FIGURE_CHARTS, chart_svg, chart_table
from .selectors import PERIODS, Period, period_ending_today, statistics_series, statistics_today

DEFAULT_DAYS = 30
EXPORT_FORMATS = ("csv", "xlsx")


def _int(value) -> int | None:
    text = str(value or "")
    return int(text) if text.isdigit() and len(text) < 19 else None


def picked_shop(user, value) -> Shop | None:
    """The shop a picker or link named, if the person sees it (anything else: every shop of theirs)."""
    pk = _int(value)
    return None if pk is None else Shop.objects.for_user(user).filter(pk=pk).first()


def picked_days(value) -> int:
    days = _int(value)
    return days if days in PERIODS else DEFAULT_DAYS


def _export_links(chart, *, shop: Shop | None, days: int) -> dict:
    url = reverse("admin:customer_service_dailystatistics_export")
    query = {"chart": chart.code, "days": days, **({"shop": shop.pk} if shop else {})}
    return {fmt: f"{url}?{urlencode({**query, 'format': fmt})}" for fmt in EXPORT_FORMATS}


def _charts(charts, entries, *, shop, days, **size) -> list[dict]:
    return [
        {"code": chart.code, "title": chart.title, "svg": chart_svg(chart, entries, **size),
         "export": _export_links(chart, shop=shop, days=days)}
        for chart in charts
    ]


def dashboard_context(request) -> dict:
    """The admin index's statistics block for ``request.user`` (picker: ``stats_shop``, ``stats_days``)."""
    user = request.user
    shop = picked_shop(user, request.GET.get("stats_shop"))
    days = picked_days(request.GET.get("stats_days"))
    period = period_ending_today(days)
    entries = statistics_series(user=user, period=period, shop=shop)
    return {
        "today": statistics_today(user=user, today=period.last),
        "shops": list(Shop.objects.for_user(user).order_by("name")),
        "picked_shop": shop,
        "days": days,
        "periods": PERIODS,
        "period": period,
        "charts": _charts(DASHBOARD_CHARTS, entries, shop=shop, days=days),
    }


def shop_charts_context(*, user, shop: Shop, days: int = DEFAULT_DAYS) -> dict:
    """A chart per figure of ``shop`` over the last ``days`` days (the shop's page)."""
    period = period_ending_today(days)
    entries = statistics_series(user=user, period=period, shop=shop)
    return {"shop": shop, "days": days, "period": period,
            "charts": _charts(FIGURE_CHARTS, entries, shop=shop, days=days, width=360, height=170)}


def chart_export(*, user, chart_code: str, shop_value=None, days_value=None, fmt: str) -> tuple[bytes, str]:
    """The table behind one chart as ``fmt`` (csv / xlsx) and a file name; raises KeyError for an unknown chart
    or format."""
    chart = CHARTS[chart_code]
    if fmt not in EXPORT_FORMATS:
        raise KeyError(fmt)
    shop = picked_shop(user, shop_value)
    days = picked_days(days_value)
    period: Period = period_ending_today(days)
    columns, rows = chart_table(chart, statistics_series(user=user, period=period, shop=shop))
    data = transfer.write_table(columns, rows, fmt, sheet=chart.code[:31])
    scope = f"shop{shop.pk}" if shop else "all-shops"
    return data, f"kefu-{chart.code}-{scope}-{period.first}-{period.last}.{fmt}"
