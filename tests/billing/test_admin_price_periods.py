"""Price periods in the admin: dates a database can hold, and never two prices in force at once."""

from datetime import timedelta

import pytest
from django.urls import reverse

from billing.models import ModelPricing
from tests.billing.admin_pages import form_errors
from tests.billing.factories import PRICE_START, AIModelFactory, ModelPricingFactory

pytestmark = pytest.mark.django_db


def price_form(model, *, start, end="", pricing_type="input_1k", price="0.01"):
    start_date, _, start_time = start.partition(" ")
    end_date, _, end_time = end.partition(" ")
    return {"model": model.pk, "pricing_type": pricing_type, "unit_price": price, "currency": "CNY",
            "effective_from_0": start_date, "effective_from_1": start_time or "00:00:00",
            "effective_to_0": end_date, "effective_to_1": end_time, "note": ""}


def test_a_price_dated_in_year_one_is_refused_not_a_server_error(superadmin_client):
    model = AIModelFactory()

    response = superadmin_client.post(reverse("admin:billing_modelpricing_add"), price_form(model, start="0001-01-01"))

    assert "between the years" in form_errors(response)


def test_a_price_overlapping_an_open_one_is_refused(superadmin_client):
    model = AIModelFactory()
    ModelPricingFactory(model=model, pricing_type="input_1k", effective_from=PRICE_START)

    response = superadmin_client.post(reverse("admin:billing_modelpricing_add"), price_form(model, start="2025-06-01"))

    assert "2025-01-01 00:00 is still in force" in form_errors(response)
    assert ModelPricing.objects.filter(model=model).count() == 1


def test_a_price_overlapping_a_closed_period_is_refused(superadmin_client):
    model = AIModelFactory()
    ModelPricingFactory(model=model, pricing_type="input_1k", effective_from=PRICE_START,
                        effective_to=PRICE_START + timedelta(days=60))

    response = superadmin_client.post(reverse("admin:billing_modelpricing_add"),
                                       price_form(model, start="2024-12-01", end="2025-01-15 00:00"))

    assert "is in force during this period" in form_errors(response)


def test_a_price_starting_when_the_previous_one_ends_is_accepted(superadmin_client):
    model = AIModelFactory()
    ModelPricingFactory(model=model, pricing_type="input_1k", effective_from=PRICE_START,
                        effective_to=PRICE_START + timedelta(days=31))  # 2025-02-01 00:00 in Shanghai
    ModelPricingFactory(model=model, pricing_type="output_1k", effective_from=PRICE_START)  # another type

    response = superadmin_client.post(reverse("admin:billing_modelpricing_add"), price_form(model, start="2025-02-01"))

    assert response.status_code == 302
    assert ModelPricing.objects.filter(model=model, pricing_type="input_1k").count() == 2
