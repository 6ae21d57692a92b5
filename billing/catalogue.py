"""Writes to the model catalogue: providers, models and their seed prices.

Below the router, which creates the catalogue row of a config whose model is missing when it
picks that config, and below the other billing services.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from . import seeds
from .choices import ModelType, PricingType
from .models import AIModel, ModelPricing, Provider


def ai_model_ensure(*, provider: Provider, code: str, model_type: str = ModelType.TEXT, name: str = "") -> AIModel:
    """Find or create the catalogue row for ``provider`` + ``code`` (safe under concurrent callers)."""
    found = AIModel.objects.filter(provider=provider, code=code).first()
    if found:
        return found
    try:
        with transaction.atomic():
            return AIModel.objects.create(provider=provider, code=code, name=name or code, model_type=model_type)
    except IntegrityError:
        return AIModel.objects.get(provider=provider, code=code)


@transaction.atomic
def catalogue_seed() -> dict[str, int]:
    """Create the seed providers, models and prices that are missing; never overwrite edits.

    Two prices of a model are never in force at once (``ModelPricing.clean``): a seed price
    with a new date ends the earlier seed price still open, as a price change in the admin
    does, and a seed price that would be in force together with a price someone set is left
    out. Returns counts of rows created per kind, and ``prices_left_out``. Running it twice
    creates nothing the second time.
    """
    created = {"providers": 0, "models": 0, "prices": 0, "prices_left_out": 0}
    effective = datetime.fromisoformat(seeds.SEED_PRICES_EFFECTIVE)
    providers = {}
    for code, name, style, base_url, website in seeds.PROVIDERS:
        provider, was_created = Provider.objects.get_or_create(
            code=code, defaults={"name": name, "api_style": style, "default_base_url": base_url, "website": website}
        )
        providers[code] = provider
        created["providers"] += was_created
    for provider_code, code, name, model_type, currency, per_1k_in, per_1k_out in seeds.MODELS:
        model, was_created = AIModel.objects.get_or_create(
            provider=providers[provider_code], code=code, defaults={"name": name, "model_type": model_type}
        )
        created["models"] += was_created
        for pricing_type, price in ((PricingType.INPUT_1K, per_1k_in), (PricingType.OUTPUT_1K, per_1k_out)):
            if price is None:
                continue
            prices = ModelPricing.objects.filter(model=model, pricing_type=pricing_type)
            if prices.filter(effective_from=effective).exists():
                continue
            row = ModelPricing(model=model, pricing_type=pricing_type, effective_from=effective, unit_price=price,
                               currency=currency, note=seeds.SEED_PRICE_NOTE)
            try:
                with transaction.atomic():
                    prices.filter(note=seeds.SEED_PRICE_NOTE, effective_from__lt=effective,
                                  effective_to__isnull=True).update(effective_to=effective)
                    row.full_clean()
                    row.save()
            except ValidationError:
                created["prices_left_out"] += 1
            else:
                created["prices"] += 1
    return created
