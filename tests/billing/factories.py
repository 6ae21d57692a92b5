from datetime import datetime
from decimal import Decimal

import factory

from billing.choices import Currency, PricingType
from billing.models import AIModel, Budget, ModelConfig, ModelPricing, Provider

PRICE_START = datetime.fromisoformat("2025-01-01T00:00:00+08:00")


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Provider
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"prov{n}")
    name = factory.LazyAttribute(lambda o: o.code.title())
    api_style = "openai"
    default_base_url = "http://127.0.0.1:9/v1"


class AIModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AIModel
        django_get_or_create = ("provider", "code")

    provider = factory.SubFactory(ProviderFactory)
    code = factory.Sequence(lambda n: f"model-{n}")
    name = factory.LazyAttribute(lambda o: o.code)


class ModelPricingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelPricing

    model = factory.SubFactory(AIModelFactory)
    pricing_type = PricingType.INPUT_1K
    unit_price = Decimal("0.002")
    currency = Currency.CNY
    effective_from = PRICE_START


class ModelConfigFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelConfig

    name = factory.Sequence(lambda n: f"config {n}")
    provider = factory.SubFactory(ProviderFactory)
    model_code = factory.Sequence(lambda n: f"model-{n}")
    model = factory.LazyAttribute(lambda o: AIModelFactory(provider=o.provider, code=o.model_code))
    api_key = "sk-test-0123456789abcdefa1b2"
    timeout_seconds = 2.0
    max_retries = 0


class BudgetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Budget

    scope = "shop"
    monthly_limit = Decimal("100")


def priced(model: AIModel, *, per_1k_in="0.002", per_1k_out="0.003", currency=Currency.CNY) -> AIModel:
    """Give ``model`` input and output prices from PRICE_START."""
    ModelPricingFactory(model=model, pricing_type=PricingType.INPUT_1K, unit_price=Decimal(per_1k_in),
                        currency=currency)
    ModelPricingFactory(model=model, pricing_type=PricingType.OUTPUT_1K, unit_price=Decimal(per_1k_out),
                        currency=currency)
    return model
