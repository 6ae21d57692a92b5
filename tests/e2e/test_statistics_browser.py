"""The statistics dashboard in a real browser (Debian's chromium), in Chinese: today per shop, the 30-day charts
carrying the rolled-up figures, the shop and period picker, and a shop's chart per figure."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from customer_service.models import DailyStatistics
from customer_service.statistics.services import daily_statistics_rollup
from tests.customer_service.statistics.traffic import generate
from tests.e2e.pages import wait_for_new_page
from tests.e2e.test_admin_browser import sign_in


def bar_values(browser, chart, series):
    bars = browser.find_elements(
        By.CSS_SELECTOR, f'svg.stats-chart[data-chart="{chart}"] rect.chart-bar[data-series="{series}"]')
    return {bar.get_attribute("data-day"): bar.get_attribute("data-value") for bar in bars}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_dashboard_draws_the_rolled_up_figures_in_chinese(world, browser, live_server, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    today = timezone.localdate()
    for shop in (world.shop, world.other_shop):
        shop.created_at = timezone.now() - timedelta(days=60)
        shop.save(update_fields=["created_at"])
    generate(shops=[world.shop, world.other_shop], first_day=today - timedelta(days=4), days=4, seed=5, per_day=6)
    daily_statistics_rollup(date_from=today - timedelta(days=29), date_to=today)

    sign_in(browser, live_server, "root")
    page = browser.page_source
    assert "今日客服" in page and "消息量与自动回复率" in page and "3 分钟响应率" in page
    today_rows = browser.find_elements(By.CSS_SELECTOR, "#stats-today tbody tr[data-shop]")
    assert len(today_rows) == 2

    charts = browser.find_elements(By.CSS_SELECTOR, "svg.stats-chart")
    assert [c.get_attribute("data-chart") for c in charts] == ["messages", "accuracy", "response", "cost"]
    for chart in charts:  # drawn, not just present
        assert chart.size["width"] > 300 and chart.size["height"] > 100
    messages = bar_values(browser, "messages", "messages")
    assert len(messages) == 30
    expected = {row.day.isoformat(): 0 for row in DailyStatistics.objects.all()}
    for row in DailyStatistics.objects.all():
        expected[row.day.isoformat()] += row.messages
    assert {day: int(value) for day, value in messages.items() if day in expected} == expected
    assert sum(int(v) for v in messages.values()) > 0
    points = browser.find_elements(By.CSS_SELECTOR, 'svg.stats-chart[data-chart="accuracy"] circle.chart-point')
    assert points and all(0 <= float(p.get_attribute("data-value")) <= 1 for p in points)

    screenshots = django_settings.VAR_DIR / "screenshots"
    screenshots.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(screenshots / "statistics-dashboard.png"))
    assert (screenshots / "statistics-dashboard.png").stat().st_size > 10_000

    # The picker: one shop, 7 days.
    Select(browser.find_element(By.NAME, "stats_shop")).select_by_visible_text("数码专营店")
    Select(browser.find_element(By.NAME, "stats_days")).select_by_value("7")
    old_page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(By.CSS_SELECTOR, "#stats-picker input[type=submit]").click()
    wait_for_new_page(browser, old_page)
    seven = bar_values(browser, "messages", "messages")
    own = DailyStatistics.objects.get(shop=world.other_shop, day=today - timedelta(days=1))
    assert len(seven) == 7 and seven[own.day.isoformat()] == str(own.messages)

    # The shop's page: a chart per figure.
    browser.get(f"{live_server.url}/admin/customer_service/shop/{world.shop.pk}/change/")
    figures = browser.find_elements(By.CSS_SELECTOR, "#stats-figures svg.stats-chart")
    assert len(figures) >= 15
    browser.save_screenshot(str(screenshots / "statistics-shop.png"))
