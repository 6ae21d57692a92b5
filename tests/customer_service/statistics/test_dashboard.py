"""The admin's statistics: today per shop and the charts on the index, a chart per figure on a shop's page,
and each chart's table as CSV / XLSX."""

import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from customer_service.models import DailyStatistics
from customer_service.statistics.charts import DASHBOARD_CHARTS, FIGURE_CHARTS


def row(shop, day, **figures):
    values = {"messages": 10, "auto_answered": 6, "kb_hits": 7, "reviewed": 4, "approved": 3, "edited": 1,
              "rounds": 5, "rounds_answered": 5, "rounds_rated": 5, "rounds_rated_in_3_minutes": 4,
              "ai_cost": Decimal("1.5"), "first_reply_median_seconds": 30.0, "first_reply_p95_seconds": 170.0}
    return DailyStatistics.objects.create(shop=shop, day=day, computed_at=timezone.now(), **(values | figures))


@pytest.fixture
def history(world):
    today = timezone.localdate()
    for n in range(5):
        row(world.shop, today - timedelta(days=n), messages=20 + n)
        row(world.other_shop, today - timedelta(days=n), messages=500 + n)
    return today


def bars(html, series):
    return dict(re.findall(
        rf'class="chart-bar"[^>]*data-series="{series}" data-day="([\d-]+)" data-value="([^"]*)"', html))


@pytest.mark.django_db
def test_the_index_shows_today_per_shop_and_a_chart_per_dashboard_figure(world, client, history):
    client.force_login(world.shop_admin)
    html = client.get(reverse("admin:index")).content.decode()
    assert 'id="stats-today"' in html and "甜品旗舰店" in html and "数码专营店" not in html
    for chart in DASHBOARD_CHARTS:
        assert f'data-chart="{chart.code}"' in html
    messages = bars(html, "messages")
    assert len(messages) == 30  # one bar a day of the default period, empty days included
    assert messages[history.isoformat()] == "20"
    assert messages[(history - timedelta(days=4)).isoformat()] == "24"
    assert messages[(history - timedelta(days=10)).isoformat()] == "0"


@pytest.mark.django_db
def test_the_picker_chooses_a_shop_and_a_period_and_ignores_what_it_does_not_offer(world, client, history):
    client.force_login(world.superadmin)
    all_shops = bars(client.get(reverse("admin:index")).content.decode(), "messages")
    assert all_shops[history.isoformat()] == "520"
    picked = client.get(reverse("admin:index"), {"stats_shop": world.other_shop.pk, "stats_days": 7})
    one = bars(picked.content.decode(), "messages")
    assert len(one) == 7 and one[history.isoformat()] == "500"
    client.force_login(world.agent)  # not their shop, and no such period: every shop of theirs, 30 days
    odd = bars(client.get(reverse("admin:index"), {"stats_shop": world.other_shop.pk, "stats_days": "5"})
               .content.decode(), "messages")
    assert len(odd) == 30 and odd[history.isoformat()] == "20"


@pytest.mark.django_db
def test_a_shops_page_has_a_chart_per_figure(world, client, history):
    client.force_login(world.agent)
    html = client.get(reverse("admin:customer_service_shop_change", args=[world.shop.pk])).content.decode()
    for chart in FIGURE_CHARTS:
        assert f'data-chart="{chart.code}"' in html
    assert bars(html, "ai_cost")[history.isoformat()] == "1.500000"
    page = client.get(reverse("admin:customer_service_dailystatistics_shop", args=[world.shop.pk]), {"days": 7})
    assert page.status_code == 200 and len(bars(page.content.decode(), "messages")) == 7
    foreign = reverse("admin:customer_service_dailystatistics_shop", args=[world.other_shop.pk])
    assert client.get(foreign).status_code == 404


@pytest.mark.django_db
def test_each_chart_exports_its_table_as_csv_and_xlsx(world, client, history):
    client.force_login(world.shop_admin)
    url = reverse("admin:customer_service_dailystatistics_export")
    csv = client.get(url, {"chart": "messages", "shop": world.shop.pk, "days": 7, "format": "csv"})
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "day,buyer messages,auto-answered,auto-answer rate"
    assert lines[-1] == f"{history.isoformat()},20,6,0.3" and len(lines) == 8
    xlsx = client.get(url, {"chart": "figure-ai_cost", "days": 30, "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    cells = list(sheet.iter_rows(values_only=True))
    assert cells[0] == ("day", "AI cost (CNY)") and cells[-1] == (history.isoformat(), "1.500000")
    assert len(cells) == 31
    assert client.get(url, {"chart": "nope", "format": "csv"}).status_code == 404
    assert client.get(url, {"chart": "cost", "format": "pdf"}).status_code == 404
    # another shop's id is not theirs: the export covers their own shops only
    other = client.get(url, {"chart": "messages", "shop": world.other_shop.pk, "days": 7, "format": "csv"})
    assert other.content.decode("utf-8-sig").splitlines()[-1].startswith(f"{history.isoformat()},20,")


@pytest.mark.django_db
def test_the_rows_are_read_only_in_the_admin(world, client, history):
    client.force_login(world.superadmin)
    pk = DailyStatistics.objects.filter(shop=world.shop).first().pk
    assert client.get(reverse("admin:customer_service_dailystatistics_changelist")).status_code == 200
    page = client.get(reverse("admin:customer_service_dailystatistics_change", args=[pk])).content.decode()
    assert 'name="_save"' not in page
