"""Bad input on the model config admin form: a message on the field, never a 500."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import ModelConfig, RequestLog, UsageRecord
from billing.services import request_log_purge
from tests.billing.admin_pages import form_errors
from tests.billing.factories import ModelConfigFactory

pytestmark = pytest.mark.django_db


def config_form(config, **changes):
    data = {"name": config.name, "provider": config.provider_id, "model_code": config.model_code,
            "capability": config.capability, "base_url": "", "temperature": "", "max_tokens": "",
            "timeout_seconds": "30", "max_retries": "0", "priority": "100", "is_active": "on",
            "log_retention_days": "7", "new_api_key": "", "new_extra_headers": ""}
    return {**data, **changes}


def test_extra_headers_nested_too_deep_are_refused_with_a_message(superadmin_client):
    config = ModelConfigFactory()
    deep = "[" * 5000 + "]" * 5000  # json.loads gives up with a RecursionError

    response = superadmin_client.post(reverse("admin:billing_modelconfig_change", args=[config.pk]),
                                      config_form(config, new_extra_headers=deep))

    assert "nests more than" in form_errors(response)


@pytest.mark.parametrize(("field", "value"), [
    ("timeout_seconds", "1e308"),  # every call failed: the socket cannot wait that long
    ("max_retries", "30000"),
    ("log_retention_days", "2147483647"),  # overflowed the date arithmetic of the daily purge
])
def test_absurd_config_numbers_are_refused(superadmin_client, field, value):
    config = ModelConfigFactory()

    response = superadmin_client.post(reverse("admin:billing_modelconfig_change", args=[config.pk]),
                                      config_form(config, **{field: value}))

    assert "At most" in form_errors(response)
    config.refresh_from_db()
    assert str(getattr(config, field)) != value


def test_the_request_log_purge_survives_a_retention_saved_before_the_bound(world):
    config = ModelConfigFactory(log_retention_days=7)
    ModelConfig.objects.filter(pk=config.pk).update(log_retention_days=2_147_483_647)
    usage = UsageRecord.objects.create(request_id="r1", model=config.model, config=config, status="success")
    RequestLog.objects.create(usage=usage, prompt="hi", created_at=timezone.now() - timedelta(days=30))

    assert request_log_purge() == 0
    assert RequestLog.objects.count() == 1


def test_the_view_only_config_page_shows_no_empty_write_only_inputs(client, world):
    config = ModelConfigFactory(owner=None, extra_headers={"X-Trace": "secret-header-value"})
    client.force_login(world.shop_admin)

    response = client.get(reverse("admin:billing_modelconfig_change", args=[config.pk]))

    html = response.content.decode()
    assert response.status_code == 200 and "X-Trace" in html
    assert "new_api_key" not in html and "new_extra_headers" not in html
    assert "secret-header-value" not in html and config.api_key not in html


@pytest.mark.parametrize(("field", "value", "message"), [
    ("name", "主配置\x1b", "control character"),
    ("model_code", "gpt\x07-4o", "control character"),
    ("base_url", "https://llm.example/\x1b", "control character"),
    ("new_api_key", "sk-" + "a" * 100_000, "at most 500 characters"),
])
def test_control_characters_and_a_runaway_key_are_refused_on_the_config_form(superadmin_client, field, value,
                                                                             message):
    config = ModelConfigFactory()
    before = (config.name, config.model_code, config.base_url, config.api_key)

    response = superadmin_client.post(reverse("admin:billing_modelconfig_change", args=[config.pk]),
                                      config_form(config, **{field: value}))

    assert message in form_errors(response)
    config.refresh_from_db()
    assert (config.name, config.model_code, config.base_url, config.api_key) == before
    assert "a" * 1000 not in response.content.decode()  # the pasted key is not echoed back


def test_the_api_refuses_control_characters_in_catalogue_and_config_text(client_for, world, llm_config):
    client = client_for(world.superadmin)
    config = llm_config("gpt-a")
    response = client.patch(f"/api/model-configs/{config.pk}/", {"name": "坏\x07名字"}, format="json")
    assert response.status_code == 400 and "U+0007" in str(response.json())
    response = client.post("/api/providers/", {"code": "p-new", "name": "Provider\x00", "api_style": "openai"},
                           format="json")
    assert response.status_code == 400
    config.refresh_from_db()
    assert config.name == "gpt-a"
