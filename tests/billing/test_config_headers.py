"""Extra headers and keys that HTTP cannot carry: refused on save, never quoted in errors, no breaker failure."""

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.urls import reverse

from billing import breaker, router
from billing.exceptions import ProviderError
from billing.models import ModelConfig, UsageRecord
from billing.providers.anthropic import AnthropicClient
from billing.providers.openai_compat import OpenAICompatibleClient
from billing.services import model_config_create, model_config_test
from tests.billing.factories import ProviderFactory

pytestmark = pytest.mark.django_db
HI = [{"role": "user", "content": "在吗"}]
SECRET = "tok-SUPERSECRET"

BAD_HEADERS = [
    {"X-Api-Token": f"{SECRET}-value\n"},
    {"X-Api-Token": f"{SECRET}-value\r\nX-Other: 1"},
    {"X-Api-Token\n": f"{SECRET}-value"},
    {"X-Api-Token": f"{SECRET}-\u00e9"},
    {"X-Api-Token": f"{SECRET}-值"},
    {"X-Api-Token": f"{SECRET}\x00"},
]


@pytest.mark.parametrize("headers", BAD_HEADERS)
def test_a_config_refuses_headers_http_cannot_carry_naming_the_header_not_its_value(world, headers):
    provider = ProviderFactory(code="openai")
    with pytest.raises(ValidationError) as caught:
        model_config_create(actor=world.superadmin, provider=provider, name="x", model_code="gpt-4o-mini",
                            api_key="sk-fine-000000000000", extra_headers=headers)
    messages = caught.value.message_dict["extra_headers"]
    assert "X-Api-Token" in messages[0] and "SUPERSECRET" not in str(messages)
    assert not ModelConfig.objects.exists()


def test_a_config_refuses_an_api_key_with_a_line_break(world):
    provider = ProviderFactory(code="openai")
    with pytest.raises(ValidationError) as caught:
        model_config_create(actor=world.superadmin, provider=provider, name="x", model_code="gpt-4o-mini",
                            api_key="sk-SUPERSECRET-0000\n")
    assert "api_key" in caught.value.message_dict and "SUPERSECRET" not in str(caught.value)


@pytest.mark.parametrize("headers", BAD_HEADERS[1:])
def test_the_api_refuses_them_with_a_coded_400(client_for, world, headers):
    provider = ProviderFactory(code="openai")
    response = client_for(world.superadmin).post("/api/model-configs/", {
        "name": "x", "provider": provider.pk, "model_code": "gpt-4o-mini", "api_key": "sk-fine-000000000000",
        "extra_headers": headers}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error" and "extra_headers" in response.json()["detail"]
    assert "SUPERSECRET" not in response.content.decode()
    assert not ModelConfig.objects.exists()


@override_settings(KEFU_BILLING_BREAKER_FAILURES=1)
@pytest.mark.parametrize("headers", BAD_HEADERS)
def test_a_stored_bad_header_fails_with_a_fixed_text_not_counted_by_the_breaker(client_for, world, llm_config,
                                                                                fake_llm, headers):
    bad = llm_config("gpt-a", extra_headers=headers, is_default=True)  # a row saved before the rule
    llm_config("gpt-b", priority=10)

    ok, message = model_config_test(config=bad)
    result = router.chat(HI, user=world.agent)

    assert ok is False and message.startswith("bad_config:") and "X-Api-Token" in message
    assert result.config.model_code == "gpt-b"
    assert "gpt-a" not in fake_llm.calls  # nothing was sent
    for record in UsageRecord.objects.filter(config=bad):
        assert record.error_code == "bad_config" and "SUPERSECRET" not in record.error_text
    assert breaker.state(bad.pk) == breaker.CLOSED  # the config is wrong, not the provider
    shown = client_for(world.superadmin).get(f"/api/model-configs/{bad.pk}").content.decode()
    assert "SUPERSECRET" not in shown and "bad_config" in shown


@pytest.mark.parametrize("client_class", [OpenAICompatibleClient, AnthropicClient])
@pytest.mark.parametrize("headers", [h for h in BAD_HEADERS if not any(ord(c) > 127 for c in str(h))])
def test_the_clients_never_quote_what_httpx_refuses(fake_llm, client_class, headers):
    # Past the config check (say, a header added by a future code path): the SDK's own refusal.
    url = fake_llm.anthropic_url if client_class is AnthropicClient else fake_llm.openai_url
    client = client_class(api_key="sk-fine-000000000000", base_url=url, timeout=2, max_retries=0, headers=headers)
    with pytest.raises(ProviderError) as caught:
        client.chat(HI, model="gpt-a", max_tokens=8, temperature=None)
    assert caught.value.code == "bad_config" and "SUPERSECRET" not in caught.value.message
    assert not fake_llm.requests


def _admin_form(config, **over):
    data = {"name": config.name, "provider": config.provider_id, "model_code": config.model_code,
            "model": config.model_id or "", "owner": "", "capability": config.capability, "base_url": "",
            "temperature": "", "max_tokens": "", "timeout_seconds": "2", "max_retries": "0", "priority": "100",
            "is_active": "on", "log_retention_days": "7", "new_api_key": "", "new_extra_headers": ""}
    return {**data, **over}


@pytest.mark.parametrize("typed", ['{"X-A": 1}', '["X-A", "1"]', '"text"', '{"X-A": {"b": "c"}}',
                                   '{"X-Api-Token": "tok-SUPERSECRET\\r\\nX-B: 1"}',
                                   '{"X-Api-Token": "tok-SUPERSECRET-值"}'])
def test_the_admin_form_shows_bad_headers_as_a_form_error(client, world, llm_config, typed):
    config = llm_config("gpt-a", extra_headers={"X-Kept": "kept"})
    client.force_login(world.superadmin)
    url = reverse("admin:billing_modelconfig_change", args=[config.pk])

    response = client.post(url, _admin_form(config, new_extra_headers=typed))

    assert response.status_code == 200
    assert "new_extra_headers" in response.context["adminform"].form.errors
    assert "SUPERSECRET" not in response.content.decode()
    config.refresh_from_db()
    assert config.extra_headers == {"X-Kept": "kept"}


def test_a_redisplayed_admin_form_never_shows_typed_header_values_or_keys(client, world, llm_config):
    config = llm_config("gpt-a")
    client.force_login(world.superadmin)
    url = reverse("admin:billing_modelconfig_change", args=[config.pk])

    response = client.post(url, _admin_form(config, temperature="5", new_api_key="sk-TYPEDSECRET-0000abcd",
                                            new_extra_headers='{"X-Secret": "tok-SUPERSECRET-123"}'))

    assert response.status_code == 200 and "temperature" in response.context["adminform"].form.errors
    html = response.content.decode()
    assert "SUPERSECRET" not in html and "TYPEDSECRET" not in html


def test_a_stored_header_the_rule_now_refuses_is_reported_on_the_headers_field(client, world, llm_config):
    config = llm_config("gpt-a", extra_headers={"X-Old": "tok-SUPERSECRET\n"})  # saved before the rule
    client.force_login(world.superadmin)
    url = reverse("admin:billing_modelconfig_change", args=[config.pk])

    refused = client.post(url, _admin_form(config, priority="5"))
    assert refused.status_code == 200 and "new_extra_headers" in refused.context["adminform"].form.errors
    assert "SUPERSECRET" not in refused.content.decode()
    fixed = client.post(url, _admin_form(config, priority="5", new_extra_headers='{"X-Old": "fine"}'))
    assert fixed.status_code == 302
    config.refresh_from_db()
    assert config.extra_headers == {"X-Old": "fine"} and config.priority == 5


def test_a_migration_scrubs_error_texts_stored_before_the_fix(llm_config, fake_llm, world):
    import importlib

    from django.apps import apps

    from billing.providers.base import UNSENDABLE_TEXT

    scrub = importlib.import_module("billing.migrations.0006_scrub_header_secrets_from_errors")
    leaked = f"connection failed: Illegal header value b'{SECRET}-value\\n'"
    config = llm_config("gpt-a")
    ModelConfig.objects.filter(pk=config.pk).update(last_test_message=f"connection: {leaked}")
    record = router.chat(HI, user=world.agent).usage
    kept = router.chat(HI, user=world.agent).usage
    UsageRecord.objects.filter(pk=record.pk).update(error_text=leaked, error_code="connection")
    UsageRecord.objects.filter(pk=kept.pk).update(error_text="connection failed: refused", error_code="connection")
    other = router.chat(HI, user=world.agent).usage
    mentioned = "provider said: illegal header x-request-id"  # not httpx quoting a value
    UsageRecord.objects.filter(pk=other.pk).update(error_text=mentioned, error_code="bad_request")

    scrub.scrub(apps, None)

    config.refresh_from_db()
    record.refresh_from_db()
    kept.refresh_from_db()
    other.refresh_from_db()
    assert (other.error_code, other.error_text) == ("bad_request", mentioned)
    assert config.last_test_message == f"bad_config: {UNSENDABLE_TEXT}" == f"bad_config: {scrub.FIXED}"
    assert (record.error_code, record.error_text) == ("bad_config", UNSENDABLE_TEXT)
    assert kept.error_text == "connection failed: refused"
