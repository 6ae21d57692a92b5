"""Budgets and shop model choices in the admin: errors on the field at fault."""

from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import Budget, ShopModelChoice
from tests.billing.admin_pages import form_errors
from tests.billing.factories import ModelConfigFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("data", "field"), [
    ({"scope": "shop", "monthly_limit": "-5"}, "monthly_limit"),
    ({"scope": "config", "monthly_limit": "5"}, "config"),
    ({"scope": "shop", "with_config": True, "monthly_limit": "5"}, "config"),
])
def test_a_bad_budget_is_explained_on_its_field_without_constraint_names(superadmin_client, world, data, field):
    data = dict(data)
    if data["scope"] == "shop":
        data["shop"] = world.shop.pk
    if data.pop("with_config", False):
        data["config"] = ModelConfigFactory().pk

    response = superadmin_client.post(reverse("admin:billing_budget_add"), {**data, "is_active": "on"})

    form_errors = response.context["adminform"].form.errors
    assert field in form_errors
    assert "billing_budget" not in str(form_errors)  # "Constraint “billing_budget_one_target” is violated."
    assert not Budget.objects.exists()


def test_a_money_amount_is_a_decimal_in_the_budget_form(superadmin_client, world):
    response = superadmin_client.post(reverse("admin:billing_budget_add"),
                                      {"scope": "shop", "shop": world.shop.pk, "monthly_limit": "100.005",
                                       "is_active": "on"})

    assert response.status_code == 302
    assert Budget.objects.get().monthly_limit == Decimal("100.005")



def test_a_shop_cannot_choose_a_config_of_another_capability(superadmin_client, world):
    text_config = ModelConfigFactory(capability="text")

    response = superadmin_client.post(reverse("admin:billing_shopmodelchoice_add"),
                                      {"shop": world.shop.pk, "capability": "embedding", "config": text_config.pk})

    assert "serves Text, not Embedding" in form_errors(response)
    assert not ShopModelChoice.objects.exists()
