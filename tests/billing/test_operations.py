import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from billing import router
from billing.exceptions import BillingError
from billing.models import ModelConfig, ModelPricing, Provider, RequestLog, UsageRecord
from billing.services import billing_export, billing_import, request_log_purge
from billing.tasks import purge_request_logs
from tests.billing.factories import PRICE_START, ModelConfigFactory

pytestmark = pytest.mark.django_db
HI = [{"role": "user", "content": "在吗"}]


def _run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_export_holds_no_secret_and_import_brings_configs_back_inactive(llm_config, world, tmp_path):
    config = llm_config("gpt-a", extra_headers={"X-Secret-Header": "hdr-value-123456"})
    config.api_key = "sk-exportme-99999999zz"
    config.save()

    text = _run("billing_export")

    assert "sk-exportme" not in text and "hdr-value-123456" not in text and "enc1:" not in text
    document = json.loads(text)
    assert document["configs"][0]["name"] == "gpt-a"
    assert "api_key" not in document["configs"][0]

    # into an empty catalogue: everything comes back, the config inactive and keyless
    ModelConfig.objects.all().delete()
    ModelPricing.objects.all().delete()
    path = tmp_path / "billing.json"
    path.write_text(text)
    assert "created" in _run("billing_import", str(path))
    restored = ModelConfig.objects.get(name="gpt-a")
    assert restored.is_active is False and restored.api_key == ""
    assert restored.model.code == "gpt-a"
    assert ModelPricing.objects.filter(model=restored.model).count() == 2
    # importing again updates, creates nothing
    assert "0 created" in _run("billing_import", str(path))


def test_import_keeps_an_existing_key_and_rejects_bad_documents(llm_config):
    config = llm_config("gpt-a")
    document = billing_export()
    billing_import(data=document)
    config.refresh_from_db()
    assert config.is_active is True and config.api_key

    for bad in ({}, {"format": "other"}, {"format": "kefu-billing/1", "configs": [{"provider": "nope", "name": "x"}]},
                {"format": "kefu-billing/1", "prices": [{"provider": "custom"}]},
                {"format": "kefu-billing/1", "prices": [{"provider": "custom", "model": "gpt-a",
                                                         "pricing_type": "input_1k", "unit_price": "abc",
                                                         "effective_from": "2025-01-01T00:00:00+08:00"}]}):
        with pytest.raises(BillingError):
            billing_import(data=bad)
    with pytest.raises(CommandError):
        call_command("billing_import", "/nonexistent/file.json")


def test_billing_check_finds_each_kind_of_problem(llm_config, fake_llm, world):
    good = llm_config("gpt-a")
    router.chat(HI, user=world.agent)
    out = io.StringIO()
    call_command("billing_check", stdout=out)
    assert "0 errors" in out.getvalue()

    keyless = ModelConfigFactory(name="keyless", provider=good.provider, api_key="")  # also has no price
    ModelPricing.objects.create(model=good.model, pricing_type="input_1k", unit_price=Decimal("9"),
                                effective_from=PRICE_START + timedelta(days=30))  # overlaps the open price
    ModelPricing.objects.filter(model=good.model, pricing_type="output_1k").update(
        effective_to=PRICE_START + timedelta(days=1))
    ModelPricing.objects.create(model=good.model, pricing_type="output_1k", unit_price=Decimal("1"),
                                effective_from=PRICE_START + timedelta(days=2))  # leaves a gap
    good.delete()  # its usage now belongs to a deleted config

    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("billing_check", stdout=out)
    text = out.getvalue()
    assert exited.value.code == 1
    for kind in ("config_without_key", "config_without_price", "price_overlap", "price_gap", "usage_config_gone",
                 "model_never_used"):
        assert kind in text, kind
    assert keyless.name in text


def test_request_logs_are_purged_after_their_retention(llm_config, fake_llm, world):
    config = llm_config("gpt-a", log_requests=True, log_retention_days=3)
    router.chat(HI, user=world.agent)
    router.chat(HI, user=world.agent)
    old = RequestLog.objects.first()
    RequestLog.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=4))

    assert purge_request_logs.delay().get() == 1  # eager in tests: the task calls the service

    assert RequestLog.objects.count() == 1
    assert UsageRecord.objects.count() == 2  # usage is kept
    config.log_retention_days = 0
    config.save()
    assert request_log_purge(now=timezone.now() + timedelta(seconds=1)) == 1


def test_the_beat_schedule_holds_the_purge_task():
    from kefu.celery import app

    entry = app.conf.beat_schedule["billing-purge-request-logs"]
    assert entry["task"] == "billing.purge_request_logs"


def test_seed_export_round_trip_keeps_prices_exact(db):
    call_command("billing_seed")
    document = billing_export()
    assert Provider.objects.count() == len(document["providers"])
    ModelPricing.objects.all().delete()
    billing_import(data=document)
    price = ModelPricing.objects.get(model__code="deepseek-chat", pricing_type="output_1k")
    assert price.unit_price == Decimal("0.003")


@pytest.mark.parametrize(("price", "problem"), [
    ({"unit_price": "-0.5"}, "unit_price"),
    ({"effective_to": "2024-12-31T00:00:00+08:00"}, "effective_to"),
    ({"pricing_type": "per_banana"}, "pricing_type"),
    ({"unit_price": "abc"}, "bad unit price"),
])
def test_import_reports_a_bad_price_with_its_row_and_saves_nothing(llm_config, tmp_path, price, problem):
    config = llm_config("gpt-a")
    document = billing_export()
    ModelConfig.objects.all().delete()
    ModelPricing.objects.all().delete()
    row = {"provider": config.provider.code, "model": "gpt-a", "pricing_type": "input_1k", "unit_price": "0.1",
           "currency": "CNY", "effective_from": "2025-01-01T00:00:00+08:00", "effective_to": None, **price}
    document["prices"] = [document["prices"][1], row]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))

    with pytest.raises(CommandError) as caught:
        call_command("billing_import", str(path))

    assert "prices[1]" in str(caught.value) and problem in str(caught.value)
    assert not ModelPricing.objects.exists() and not ModelConfig.objects.exists()


def test_import_reports_a_bad_provider_and_config_with_their_row(llm_config):
    llm_config("gpt-a")
    document = billing_export()
    document["providers"][0]["code"] = "not a slug!"
    with pytest.raises(BillingError) as caught:
        billing_import(data=document)
    assert "providers[0]" in caught.value.message and "code" in caught.value.message

    document = billing_export()
    document["configs"][0]["timeout_seconds"] = -1
    with pytest.raises(BillingError) as caught:
        billing_import(data=document)
    assert "configs[0]" in caught.value.message and "timeout_seconds" in caught.value.message


def test_import_names_every_bad_entry_and_writes_nothing(llm_config):
    config = llm_config("gpt-a")
    document = billing_export()
    document["providers"][0]["name"] = ""
    document["configs"][0]["timeout_seconds"] = -1
    document["prices"].append({"provider": "nope", "model": "x"})
    with pytest.raises(BillingError) as caught:
        billing_import(data=json.dumps(document).encode())
    problems = [(p["row"].split(" ")[0], p["field"]) for p in caught.value.detail]
    assert problems == [("providers[0]", "name"), (f"prices[{len(document['prices']) - 1}]", ""),
                        ("configs[0]", "timeout_seconds")]
    assert caught.value.code == "invalid_import" and "2 more problem(s)" in caught.value.message
    config.refresh_from_db()
    assert config.provider.name and config.timeout_seconds != -1
