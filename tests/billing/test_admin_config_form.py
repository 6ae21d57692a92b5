"""Bad input on the model config admin form: a message on the field, never a 500."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import ModelConfig, RequestLog, UsageRecord
from billing.services import request_log_purge
from tests.billing.factories import ModelConfigFactory

pytestmark = pytest.mark.django_db


def errors(response) -> str:
    assert response.status_code == 200, "the form was accepted"
    return str(response.context["adminform"].form.errors)


@pytest.fixture
def superadmin_client(client, world):
    client.force_login(world.superadmin)
    client.cookies["django_language"] = "en"
    return client


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

    assert "nests more than" in errors(response)


@pytest.mark.parametrize(("field", "value"), [
    ("timeout_seconds", "1e308"),  # every call failed: the socket cannot wait that long
    ("max_retries", "30000"),
    ("log_retention_days", "2147483647"),  # overflowed the date arithmetic of the daily purge
])
def test_absurd_config_numbers_are_refused(superadmin_client, field, value):
    config = ModelConfigFactory()

    response = superadmin_client.post(reverse("admin:billing_modelconfig_change", args=[config.pk]),
                                      config_form(config, **{field: value}))

    assert "At most" in errors(response)
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
