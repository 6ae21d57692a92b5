import pytest
from django.core.management import call_command
from django.urls import reverse

from billing.models import AIModel, ModelConfig, ModelPricing, Provider
from tests.billing.factories import ModelConfigFactory

pytestmark = pytest.mark.django_db


def test_billing_seed_is_idempotent_and_keeps_edits(capsys):
    call_command("billing_seed")
    counts = (Provider.objects.count(), AIModel.objects.count(), ModelPricing.objects.count())
    assert counts[0] == 10 and counts[1] > 20 and counts[2] > 40
    codes = set(Provider.objects.values_list("code", flat=True))
    assert {"openai", "deepseek", "moonshot", "dashscope", "doubao", "gemini", "openrouter", "anthropic", "ernie",
            "custom"} == codes
    deepseek = Provider.objects.get(code="deepseek")
    deepseek.default_base_url = "https://proxy.example.com/v1"
    deepseek.save()

    call_command("billing_seed")

    assert (Provider.objects.count(), AIModel.objects.count(), ModelPricing.objects.count()) == counts
    assert Provider.objects.get(code="deepseek").default_base_url == "https://proxy.example.com/v1"
    assert "created 0 providers, 0 models, 0 prices" in capsys.readouterr().out
    price = ModelPricing.objects.get(model__code="deepseek-chat", pricing_type="input_1k")
    assert price.currency == "CNY" and price.effective_from.year == 2025


def test_admin_never_shows_the_key_and_blank_keeps_it(admin_client, world):
    config = ModelConfigFactory(api_key="sk-secretvalue-000000a1b2")
    url = reverse("admin:billing_modelconfig_change", args=[config.pk])

    page = admin_client.get(url).content.decode()
    listing = admin_client.get(reverse("admin:billing_modelconfig_changelist")).content.decode()

    for html in (page, listing):
        assert "sk-secretvalue" not in html
        assert "sk-…a1b2" in html
    data = {
        "name": "renamed", "provider": config.provider_id, "model_code": config.model_code, "model": config.model_id,
        "owner": "", "capability": "text", "new_api_key": "", "base_url": "", "new_extra_headers": "",
        "temperature": "", "max_tokens": "", "timeout_seconds": "5", "max_retries": "0", "priority": "100",
        "is_active": "on", "log_retention_days": "7",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    config = ModelConfig.objects.get(pk=config.pk)
    assert config.name == "renamed" and config.api_key == "sk-secretvalue-000000a1b2"

    admin_client.post(url, {**data, "new_api_key": "sk-brandnewkey-0000c3d4"})
    assert ModelConfig.objects.get(pk=config.pk).api_key == "sk-brandnewkey-0000c3d4"


def test_admin_actions_test_connection_and_disable(admin_client, llm_config, fake_llm):
    config = llm_config("gpt-a")
    changelist = reverse("admin:billing_modelconfig_changelist")

    admin_client.post(changelist, {"action": "test_connection", "_selected_action": [config.pk]})
    config.refresh_from_db()
    assert config.last_test_ok is True and config.last_tested_at is not None

    admin_client.post(changelist, {"action": "disable", "_selected_action": [config.pk]})
    config.refresh_from_db()
    assert config.is_active is False


def test_usage_changelist_shows_totals_and_a_chart(admin_client, llm_config, fake_llm, world):
    from billing import router

    llm_config("gpt-a")
    for _ in range(3):
        router.chat([{"role": "user", "content": "hi"}], user=world.agent, shop=world.shop)

    html = admin_client.get(reverse("admin:billing_usagerecord_changelist")).content.decode()

    assert 'id="usage-totals"' in html and "<strong>3</strong>" in html
    assert "<svg" in html and "<rect" in html


@pytest.fixture
def admin_client(client, world):
    client.force_login(world.superadmin)
    return client


def test_admin_add_form_refuses_an_active_config_without_a_key_and_accepts_one_with(admin_client, world):
    from tests.billing.factories import ProviderFactory

    provider = ProviderFactory(code="deepseek")
    url = reverse("admin:billing_modelconfig_add")
    data = {
        "name": "ds", "provider": provider.pk, "model_code": "deepseek-chat", "model": "", "owner": "",
        "capability": "text", "new_api_key": "", "base_url": "", "new_extra_headers": "", "temperature": "",
        "max_tokens": "", "timeout_seconds": "5", "max_retries": "0", "priority": "100", "is_active": "on",
        "log_retention_days": "7",
    }
    refused = admin_client.post(url, data)
    assert refused.status_code == 200
    assert "is_active" in refused.context["adminform"].form.errors
    assert not ModelConfig.objects.exists()

    accepted = admin_client.post(url, {**data, "new_api_key": "sk-added-in-admin-0000", "new_extra_headers":
                                       '{"X-Title": "kefu"}'})
    assert accepted.status_code == 302
    config = ModelConfig.objects.get()
    assert config.api_key == "sk-added-in-admin-0000" and config.extra_headers == {"X-Title": "kefu"}
    assert config.model.code == "deepseek-chat"


def test_a_seed_with_new_prices_ends_the_old_seed_prices_and_the_catalogue_still_exports(monkeypatch):
    from billing import seeds
    from billing.services import billing_export, billing_import

    call_command("billing_seed")
    monkeypatch.setattr(seeds, "SEED_PRICES_EFFECTIVE", "2026-06-01T00:00:00+08:00")  # a later release's list
    call_command("billing_seed")
    prices = ModelPricing.objects.filter(model__code="gpt-4o-mini", pricing_type="input_1k").order_by("effective_from")
    old, new = prices
    assert old.effective_to == new.effective_from and new.effective_to is None
    for price in ModelPricing.objects.all():
        price.full_clean()  # never two prices of a model in force at once
    document = billing_export()
    ModelPricing.objects.all().delete()
    billing_import(data=document)  # refused an overlap of two open seed prices
    assert ModelPricing.objects.count() == len(document["prices"])


def test_a_seed_price_never_overrides_a_price_someone_set(capsys):
    from tests.billing.factories import PRICE_START, AIModelFactory, ModelPricingFactory, ProviderFactory

    model = AIModelFactory(provider=ProviderFactory(code="openai"), code="gpt-4o-mini")
    own = ModelPricingFactory(model=model, pricing_type="input_1k", effective_from=PRICE_START, note="our contract")
    call_command("billing_seed")
    assert list(ModelPricing.objects.filter(model=model, pricing_type="input_1k")) == [own]
    own.refresh_from_db()
    assert own.effective_to is None
    assert ModelPricing.objects.filter(model=model, pricing_type="output_1k").exists()  # nothing set there
    assert "1 seed prices left out" in capsys.readouterr().out
