from decimal import Decimal

from django.utils import translation

from billing.charts import daily_svg


def test_a_single_day_shows_its_calls_as_a_dot():
    svg = daily_svg([{"key": "2026-11-23", "cost": Decimal("0.001170"), "calls": 7}])

    assert svg.count("<circle") == 1  # a one-point polyline draws nothing
    assert "calls (max 7)" in svg


def test_the_chart_speaks_the_page_language():
    with translation.override("zh-hans"):
        svg = daily_svg([{"key": "2026-11-22", "cost": Decimal("1.5"), "calls": 3},
                         {"key": "2026-11-23", "cost": Decimal("0"), "calls": 0}])

    assert "费用" in svg and "调用" in svg
    assert "calls" not in svg and "cost" not in svg


def test_no_rows_draw_no_chart():
    assert daily_svg([]) == ""
