"""/api/statistics/: the rows of the requester's shops, filtered by shop and day range, and their totals."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from customer_service.models import DailyStatistics

D = date(2026, 3, 1)


def row(shop, day, **figures):
    values = {"messages": 10, "auto_answered": 6, "kb_hits": 7, "reviewed": 4, "approved": 3, "edited": 1,
              "rounds_rated": 5, "rounds_rated_in_3_minutes": 4, "ai_cost": Decimal("0.123456"),
              "first_reply_median_seconds": 30.0, "first_reply_p95_seconds": 170.0} | figures
    return DailyStatistics.objects.create(shop=shop, day=day, computed_at=timezone.now(), **values)


@pytest.fixture
def rows(world):
    for n in range(3):
        row(world.shop, D + timedelta(days=n), messages=10 + n)
        row(world.other_shop, D + timedelta(days=n), messages=100)


@pytest.mark.django_db
@pytest.mark.parametrize("role, shops", [("superadmin", {"甜品旗舰店", "数码专营店"}), ("shop_admin", {"甜品旗舰店"}),
                                         ("agent", {"甜品旗舰店"}), ("outsider", {"数码专营店"})])
def test_each_person_sees_only_their_shops_rows(world, client_for, rows, role, shops):
    response = client_for(getattr(world, role)).get("/api/statistics/")
    assert response.status_code == 200
    assert {r["shop_name"] for r in response.json()["results"]} == shops


@pytest.mark.django_db
def test_rows_filter_by_shop_and_day_range_and_carry_their_rates(world, client_for, rows):
    client = client_for(world.superadmin)
    response = client.get("/api/statistics/", {"shop": world.shop.pk, "date_from": "2026-03-02",
                                               "date_to": "2026-03-03", "ordering": "day"})
    body = response.json()["results"]
    assert [r["day"] for r in body] == ["2026-03-02", "2026-03-03"]
    first = body[0]
    assert first["messages"] == 11 and first["ai_cost"] == "0.123456"
    assert first["auto_answer_rate"] == round(6 / 11, 4) and first["ai_accuracy"] == 0.75
    assert first["response_rate_3_minutes"] == 0.8 and first["kb_hit_rate"] == round(7 / 11, 4)


@pytest.mark.django_db
def test_the_summary_adds_up_the_filtered_rows(world, client_for, rows):
    client = client_for(world.shop_admin)
    summary = client.get("/api/statistics/summary/", {"date_from": "2026-03-01", "date_to": "2026-03-02"}).json()
    assert summary["rows"] == 2 and summary["messages"] == 21 and summary["reviewed"] == 8
    assert summary["ai_cost"] == "0.246912" and summary["ai_accuracy"] == 0.75
    assert summary["first_reply_p95_seconds_max"] == 170.0
    # the other shop's rows are not the shop admin's to add up
    assert client.get("/api/statistics/summary/", {"shop": world.other_shop.pk}).status_code == 400


@pytest.mark.django_db
def test_an_empty_range_has_no_rates_and_bad_dates_are_a_400(world, client_for, rows):
    client = client_for(world.agent)
    empty = client.get("/api/statistics/summary/", {"date_from": "2030-01-01"}).json()
    assert empty["rows"] == 0 and empty["messages"] == 0 and empty["ai_accuracy"] is None
    bad = client.get("/api/statistics/", {"date_from": "yesterday"})
    assert bad.status_code == 400 and bad.json()["error"]
    assert client.get("/api/statistics/", {"shop": "99999999999999999999999"}).status_code == 400


@pytest.mark.django_db
def test_statistics_are_read_only(world, client_for, rows):
    client = client_for(world.superadmin)
    pk = DailyStatistics.objects.filter(shop=world.shop).first().pk
    assert client.post("/api/statistics/", {}, format="json").status_code == 405
    assert client.delete(f"/api/statistics/{pk}/").status_code == 405
    assert client.get("/api/statistics/", format="json").status_code == 200
