"""Prices and budgets are written through their services, whoever asks: the superadmin check and the model's rules."""

from datetime import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing import services
from billing.models import ModelPricing
from kefu.exceptions import PermissionDenied

from .factories import PRICE_START, AIModelFactory, ModelPricingFactory

pytestmark = pytest.mark.django_db
LATER = datetime.fromisoformat("2026-01-01T00:00:00+08:00")


def test_a_new_price_needs_the_open_one_ended_first(world):
    current = ModelPricingFactory(effective_from=PRICE_START)
    with pytest.raises(ValidationError) as refused:
        services.pricing_create(actor=world.superadmin, model=current.model, pricing_type="input_1k",
                                unit_price=Decimal("0.003"), effective_from=LATER)
    assert "still in force" in str(refused.value)
    services.pricing_update(actor=world.superadmin, pricing=current, effective_to=LATER)
    new = services.pricing_create(actor=world.superadmin, model=current.model, pricing_type="input_1k",
                                  unit_price=Decimal("0.003"), effective_from=LATER)
    assert list(ModelPricing.objects.filter(model=current.model).values_list("unit_price", flat=True)) == [
        new.unit_price, current.unit_price]


def test_the_models_own_rules_hold_on_every_write(world):
    model = AIModelFactory()
    for fields in ({"unit_price": Decimal("-1")}, {"effective_to": PRICE_START}):
        with pytest.raises(ValidationError):
            services.pricing_create(actor=world.superadmin, model=model, pricing_type="input_1k",
                                    **{"unit_price": Decimal("0.001"), "effective_from": PRICE_START, **fields})
    assert not ModelPricing.objects.exists()


@pytest.mark.parametrize("who", ["shop_admin", "agent"])
def test_only_a_superadmin_sets_prices(world, who):
    person, price = getattr(world, who), ModelPricingFactory()
    with pytest.raises(PermissionDenied):
        services.pricing_create(actor=person, model=price.model, pricing_type="output_1k",
                                unit_price=Decimal("0.001"), effective_from=PRICE_START)
    with pytest.raises(PermissionDenied):
        services.pricing_update(actor=person, pricing=price, unit_price=Decimal("0"))
    with pytest.raises(PermissionDenied):
        services.pricing_delete(actor=person, pricing=price)
    price.refresh_from_db()
    assert price.unit_price == Decimal("0.002") and ModelPricing.objects.count() == 1


@pytest.mark.parametrize("who", ["shop_admin", "agent"])
def test_only_a_superadmin_sets_budgets(world, who):
    from billing.models import Budget

    with pytest.raises(PermissionDenied):
        services.budget_set(actor=getattr(world, who), shop=world.shop, monthly_limit=Decimal("10"))
    assert not Budget.objects.exists()
    assert services.budget_set(actor=world.superadmin, shop=world.shop, monthly_limit=Decimal("10")).pk
