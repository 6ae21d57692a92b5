"""A server-rendered SVG chart of cost and calls per day (no JavaScript, works offline)."""

from __future__ import annotations

from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

WIDTH, HEIGHT, PAD = 720, 220, 36


def daily_svg(rows: list[dict]) -> str:
    """Bars of cost (CNY) and a line of calls for ``rows`` of {"key": "YYYY-MM-DD", "cost", "calls"}."""
    if not rows:
        return ""
    max_cost = max((row["cost"] for row in rows), default=Decimal(0)) or Decimal(1)
    max_calls = max((row["calls"] for row in rows), default=0) or 1
    plot_w, plot_h = WIDTH - 2 * PAD, HEIGHT - 2 * PAD
    step = plot_w / len(rows)
    bars, points, labels = [], [], []
    every = max(1, len(rows) // 10)
    for index, row in enumerate(rows):
        x = PAD + index * step
        h = float(row["cost"] / max_cost) * plot_h
        bars.append((f"{x + step * 0.15:.1f}", f"{PAD + plot_h - h:.1f}", f"{step * 0.7:.1f}", f"{h:.1f}",
                     _("%(day)s: %(cost)s CNY, %(calls)s calls") % {
                         "day": row["key"], "cost": row["cost"], "calls": row["calls"]}))
        cy = PAD + plot_h - (row["calls"] / max_calls) * plot_h
        points.append((f"{x + step / 2:.1f}", f"{cy:.1f}"))
        if index % every == 0:
            labels.append((f"{x + step / 2:.1f}", f"{HEIGHT - PAD + 14:.1f}", str(row["key"])[5:]))
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="billing-chart" width="{w}" height="{h}" '
        'viewBox="0 0 {w} {h}" role="img" aria-label="{aria}">'
        '<text x="{pad}" y="14" font-size="11" fill="#417690">■ {cost_legend}</text>'
        '<text x="{right}" y="14" font-size="11" fill="#c0392b" text-anchor="end">— {calls_legend}</text>'
        '<line x1="{pad}" y1="{base}" x2="{right}" y2="{base}" stroke="#999"/>'
        "{bars}"
        '<polyline fill="none" stroke="#c0392b" stroke-width="2" points="{points}"/>'
        "{dots}{labels}</svg>",
        w=WIDTH, h=HEIGHT, pad=PAD, right=WIDTH - PAD, base=f"{PAD + plot_h:.1f}",
        aria=_("cost and calls per day"),
        cost_legend=_("cost (max %(max)s CNY)") % {"max": max_cost},
        calls_legend=_("calls (max %(max)s)") % {"max": max_calls},
        bars=format_html_join(
            "", '<rect x="{}" y="{}" width="{}" height="{}" fill="#79aec8"><title>{}</title></rect>', bars
        ),
        points=mark_safe(" ".join(f"{x},{y}" for x, y in points)),  # noqa: S308 - numbers formatted above
        # A line needs two days; a dot on each day shows the calls of a single day too.
        dots=format_html_join("", '<circle cx="{}" cy="{}" r="3" fill="#c0392b"/>', points),
        labels=format_html_join(
            "", '<text x="{}" y="{}" font-size="10" text-anchor="middle" fill="#666">{}</text>', labels
        ),
    )
