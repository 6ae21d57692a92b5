"""The dashboard's charts: server-rendered SVG (no JavaScript, no CDN: the seller's machine may be offline).

Every bar and point carries its data (``data-series``, ``data-day``, ``data-value``) and a tooltip, and each
chart's table (the day and its series) is what the CSV / XLSX export of the chart writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from django.utils.functional import Promise
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

BLUE, GREEN, RED, ORANGE, PURPLE, GREY = "#417690", "#3f9c35", "#c0392b", "#e67e22", "#8e44ad", "#7f8c8d"


@dataclass(frozen=True)
class Series:
    key: str  # the name of the figure in a day's entry
    label: str | Promise
    kind: str  # "bar" or "line"
    color: str
    percent: bool = False  # a share in [0, 1]: drawn on the right axis as 0–100 %


@dataclass(frozen=True)
class Chart:
    code: str
    title: str | Promise
    series: tuple[Series, ...]
    unit: str | Promise = ""  # of the left axis


def _s(key, label, kind, color, percent=False):
    return Series(key, label, kind, color, percent)


MESSAGES = _s("messages", gettext_lazy("buyer messages"), "bar", BLUE)
AUTO = _s("auto_answered", gettext_lazy("auto-answered"), "bar", GREEN)
AUTO_RATE = _s("auto_answer_rate", gettext_lazy("auto-answer rate"), "line", RED, True)
REVIEWED = _s("reviewed", gettext_lazy("reviewed"), "bar", BLUE)
ACCURACY = _s("ai_accuracy", gettext_lazy("AI accuracy"), "line", RED, True)
KB_RATE = _s("kb_hit_rate", gettext_lazy("knowledge hit rate"), "line", PURPLE, True)
MEDIAN = _s("first_reply_median_seconds", gettext_lazy("median first reply (s)"), "line", BLUE)
P95 = _s("first_reply_p95_seconds", gettext_lazy("95th percentile first reply (s)"), "line", ORANGE)
RATE_3 = _s("response_rate_3_minutes", gettext_lazy("3-minute response rate"), "line", RED, True)
COST = _s("ai_cost", gettext_lazy("AI cost (CNY)"), "bar", BLUE)

DASHBOARD_CHARTS = (
    Chart("messages", gettext_lazy("Messages and auto-answer rate"), (MESSAGES, AUTO, AUTO_RATE)),
    Chart("accuracy", gettext_lazy("AI accuracy (approved unedited / reviewed)"), (REVIEWED, ACCURACY, KB_RATE)),
    Chart("response", gettext_lazy("Time to first reply and the 3-minute rate"), (MEDIAN, P95, RATE_3),
          gettext_lazy("seconds")),
    Chart("cost", gettext_lazy("AI cost"), (COST,), "CNY"),
)

# One chart per figure, for a shop's page.
FIGURE_CHARTS = tuple(
    Chart(f"figure-{series.key}", series.label, (series,))
    for series in (
        MESSAGES,
        _s("conversations", gettext_lazy("conversations"), "bar", BLUE),
        AUTO, AUTO_RATE,
        _s("kb_hits", gettext_lazy("knowledge hits"), "bar", PURPLE), KB_RATE,
        _s("ignored", gettext_lazy("ignored"), "bar", GREY),
        REVIEWED,
        _s("approved", gettext_lazy("approved unedited"), "bar", GREEN),
        _s("edited", gettext_lazy("edited"), "bar", ORANGE),
        _s("rejected", gettext_lazy("rejected"), "bar", RED),
        ACCURACY,
        _s("unknown_sends", gettext_lazy("unconfirmed sends"), "bar", RED),
        _s("rounds", gettext_lazy("conversation rounds"), "bar", BLUE),
        MEDIAN, P95, RATE_3, COST,
    )
)
CHARTS = {chart.code: chart for chart in (*DASHBOARD_CHARTS, *FIGURE_CHARTS)}


def _f(number: float) -> str:
    return f"{number:.1f}"


def _whole(number: float) -> float | int:
    return int(number) if float(number).is_integer() else number


def _number(value) -> float | None:
    return None if value is None else float(value)


def _shown(series: Series, value) -> str:
    if value is None:
        return "–"
    if series.percent:
        return f"{float(value) * 100:.1f}%"
    if isinstance(value, Decimal):
        return f"{value:.2f}" if value >= 1 else f"{value:.4f}"
    if isinstance(value, float):
        return f"{value:.0f}" if value >= 10 else f"{value:.1f}"
    return str(value)


def chart_table(chart: Chart, entries: list[dict]) -> tuple[list[str], list[list[str]]]:
    """The table behind ``chart``: a header (day, then each series) and one row of text cells per day."""
    columns = [_("day"), *(str(series.label) for series in chart.series)]
    rows = []
    for entry in entries:
        cells = [entry["day"].isoformat()]
        for series in chart.series:
            value = entry[series.key]
            cells.append("" if value is None else str(value))
        rows.append(cells)
    return columns, rows


def chart_svg(chart: Chart, entries: list[dict], *, width: int = 720, height: int = 220) -> SafeString:
    """``chart`` over ``entries`` (one a day, oldest first): bars side by side, lines over them, shares on a
    0–100 % right axis."""
    pad_left, pad_right, pad_top, pad_bottom = 44, 44, 30, 24
    plot_w, plot_h = width - pad_left - pad_right, height - pad_top - pad_bottom
    base = pad_top + plot_h
    count = max(len(entries), 1)
    step = plot_w / count
    left = [s for s in chart.series if not s.percent]
    left_max = max((_number(e[s.key]) or 0 for e in entries for s in left), default=0) or 1
    bars = [s for s in chart.series if s.kind == "bar"]
    bar_w = step * 0.8 / max(len(bars), 1)

    def y_of(series, value):
        top = 1 if series.percent else left_max
        return base - (_number(value) / top) * plot_h

    shapes, lines = [], []
    for index, entry in enumerate(entries):
        x = pad_left + index * step
        for n, series in enumerate(bars):
            value = entry[series.key]
            y = y_of(series, value or 0)
            shapes.append(format_html(
                '<rect class="chart-bar" x="{}" y="{}" width="{}" height="{}" fill="{}" '
                'data-series="{}" data-day="{}" data-value="{}"><title>{} {}: {}</title></rect>',
                _f(x + step * 0.1 + n * bar_w), _f(y), _f(max(bar_w - 1, 1)), _f(base - y), series.color, series.key,
                entry["day"].isoformat(), "" if value is None else value, entry["day"].isoformat(), series.label,
                _shown(series, value),
            ))
    for series in (s for s in chart.series if s.kind == "line"):
        segment, segments = [], []
        for index, entry in enumerate(entries):
            value = entry[series.key]
            if value is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            cx, cy = pad_left + index * step + step / 2, y_of(series, value)
            segment.append((cx, cy))
            shapes.append(format_html(
                '<circle class="chart-point" cx="{}" cy="{}" r="3" fill="{}" data-series="{}" '
                'data-day="{}" data-value="{}"><title>{} {}: {}</title></circle>',
                _f(cx), _f(cy), series.color, series.key, entry["day"].isoformat(), value, entry["day"].isoformat(),
                series.label, _shown(series, value),
            ))
        if segment:
            segments.append(segment)
        for points in segments:
            lines.append(format_html(
                '<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>', series.color,
                mark_safe(" ".join(f"{x:.1f},{y:.1f}" for x, y in points)),  # noqa: S308 - numbers only
            ))
    every = max(1, len(entries) // 8)
    labels = format_html_join("", '<text x="{}" y="{}" font-size="10" text-anchor="middle" fill="#666">'
                                  "{}</text>",
                              ((_f(pad_left + i * step + step / 2), height - 8, e["day"].strftime("%m-%d"))
                               for i, e in enumerate(entries) if i % every == 0))
    legend = format_html_join("", '<tspan fill="{}">■ {}</tspan>  ', ((s.color, s.label) for s in chart.series))
    axes = format_html(
        '<text x="4" y="{}" font-size="10" fill="#666">{}</text>'
        '<text x="4" y="{}" font-size="10" fill="#666">0</text>',
        pad_top + 4, _shown(left[0], _whole(left_max)) if left else "", base,
    )
    if any(s.percent for s in chart.series):
        axes += format_html(
            '<text x="{}" y="{}" font-size="10" fill="#666" text-anchor="end">100%</text>'
            '<text x="{}" y="{}" font-size="10" fill="#666" text-anchor="end">0%</text>',
            width - 2, pad_top + 4, width - 2, base,
        )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="stats-chart" data-chart="{code}" width="{w}" height="{h}" '
        'viewBox="0 0 {w} {h}" style="width: 100%; max-width: {w}px; height: auto;" role="img" '
        'aria-label="{title}">'
        '<text x="{pl}" y="12" font-size="11">{legend}</text>'
        '<text x="{pl}" y="{unit_y}" font-size="10" fill="#666">{unit}</text>'
        '<line x1="{pl}" y1="{base}" x2="{right}" y2="{base}" stroke="#999"/>'
        '<line x1="{pl}" y1="{pt}" x2="{right}" y2="{pt}" stroke="#eee"/>'
        "{axes}{shapes}{lines}{labels}</svg>",
        code=chart.code, w=width, h=height, title=chart.title, pl=pad_left, legend=legend, unit_y=pad_top - 4,
        unit=chart.unit, base=_f(base), right=width - pad_right, pt=pad_top, axes=axes,
        shapes=mark_safe("".join(shapes)),  # noqa: S308 - each built by format_html
        lines=mark_safe("".join(lines)),  # noqa: S308 - each built by format_html
        labels=labels,
    )


def calibration_svg(calibration, *, width: int = 720, height: int = 260) -> SafeString:
    """The precision curve of a shop's reviewed answers over the thresholds: the precision (a point each), its
    95 % interval (a band), the target (dashed), the current threshold (grey) and the suggestion (green)."""
    pad_left, pad_right, pad_top, pad_bottom = 44, 16, 24, 28
    plot_w, plot_h = width - pad_left - pad_right, height - pad_top - pad_bottom
    points = calibration.points
    first, last = points[0].threshold, points[-1].threshold
    known = [p for p in points if p.precision is not None]
    floor = min([calibration.target - 0.05, *(p.low for p in known)], default=0.5)
    floor = max(0.0, math.floor(floor * 20) / 20)

    def x_of(threshold):
        return pad_left + (threshold - first) / (last - first) * plot_w

    def y_of(value):
        return pad_top + (1 - (value - floor) / (1 - floor)) * plot_h

    band = " ".join([*(f"{x_of(p.threshold):.1f},{y_of(p.high):.1f}" for p in known),
                     *(f"{x_of(p.threshold):.1f},{y_of(p.low):.1f}" for p in reversed(known))])
    line = " ".join(f"{x_of(p.threshold):.1f},{y_of(p.precision):.1f}" for p in known)
    dots = format_html_join("", '<circle class="calibration-point" cx="{}" cy="{}" r="2.5" fill="{}" '
                                'data-threshold="{}" data-precision="{}" data-low="{}" data-high="{}" '
                                'data-answers="{}"><title>{}</title></circle>',
                            ((_f(x_of(p.threshold)), _f(y_of(p.precision)), BLUE, p.threshold, f"{p.precision:.4f}",
                              f"{p.low:.4f}", f"{p.high:.4f}", p.answers, _point_title(p))
                             for p in known))
    marks = []
    for threshold, color, label in ((calibration.current, GREY, _("current")),
                                    (calibration.suggested, GREEN, _("suggested"))):
        if threshold is not None and first <= threshold <= last:
            marks.append(format_html(
                '<line class="calibration-mark" data-mark="{}" x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" '
                'stroke-width="2"/><text x="{}" y="{}" font-size="10" fill="{}">{} {}</text>',
                "current" if color == GREY else "suggested", _f(x_of(threshold)), pad_top, _f(x_of(threshold)),
                pad_top + plot_h, color, _f(x_of(threshold) + 3), pad_top + 10 + 12 * len(marks), color, label,
                f"{threshold:.2f}",
            ))
    ticks = format_html_join("", '<text x="{}" y="{}" font-size="10" text-anchor="middle" fill="#666">{}</text>',
                             ((_f(x_of(t)), height - 10, f"{t:.2f}") for t in THRESHOLD_TICKS if first <= t <= last))
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="calibration-chart" width="{w}" height="{h}" '
        'viewBox="0 0 {w} {h}" style="width: 100%; max-width: {w}px; height: auto;" role="img" aria-label="{aria}">'
        '<text x="{pl}" y="14" font-size="11"><tspan fill="{blue}">● {precision}</tspan>  '
        '<tspan fill="#9cc3d5">■ {interval}</tspan>  <tspan fill="{red}">- - {target_label} {target}</tspan></text>'
        '<text x="4" y="{top_y}" font-size="10" fill="#666">100%</text>'
        '<text x="4" y="{base}" font-size="10" fill="#666">{floor}</text>'
        '<line x1="{pl}" y1="{base}" x2="{right}" y2="{base}" stroke="#999"/>'
        '<polygon class="calibration-band" points="{band}" fill="#9cc3d5" fill-opacity="0.5"/>'
        '<polyline points="{line}" fill="none" stroke="{blue}" stroke-width="2"/>'
        '<line class="calibration-target" x1="{pl}" y1="{ty}" x2="{right}" y2="{ty}" stroke="{red}" '
        'stroke-dasharray="6 4"/>'
        "{marks}{dots}{ticks}</svg>",
        w=width, h=height, aria=_("precision at each auto-send threshold"), pl=pad_left, blue=BLUE, red=RED,
        precision=_("precision"), interval=_("interval (95%)"), target_label=_("target"),
        target=f"{calibration.target:.1%}", top_y=pad_top + 4, base=_f(pad_top + plot_h),
        floor=f"{floor:.0%}", right=width - pad_right, band=band, line=line, ty=_f(y_of(calibration.target)),
        marks=mark_safe("".join(marks)),  # noqa: S308 - each built by format_html
        dots=dots, ticks=ticks,
    )


def _point_title(p) -> str:
    return _("≥ %(t).2f: %(right)d of %(n)d right, precision %(p).1f%% (95%%: %(low).1f–%(high).1f%%)") % {
        "t": p.threshold, "right": p.right, "n": p.answers, "p": p.precision * 100, "low": p.low * 100,
        "high": p.high * 100}


THRESHOLD_TICKS = tuple(round(0.5 + 0.05 * n, 2) for n in range(10))
