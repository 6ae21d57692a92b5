import pytest
from django.urls import reverse

from billing.exceptions import BillingError
from billing.services import model_config_update

pytestmark = pytest.mark.django_db


def _form(config, **over):
    data = {"name": config.name, "provider": config.provider_id, "model_code": config.model_code,
            "model": config.model_id or "", "owner": config.owner_id or "", "capability": config.capability,
            "base_url": "", "temperature": "", "max_tokens": "", "timeout_seconds": "2", "max_retries": "0",
            "priority": "100", "is_active": "on", "log_retention_days": "7", "new_api_key": "",
            "new_extra_headers": ""}
    return {**data, **over}


def test_an_owner_edits_their_config_in_the_admin_but_cannot_make_it_system_wide(client, world, llm_config):
    own = llm_config("gpt-own", owner=world.shop_admin)
    client.force_login(world.shop_admin)
    url = reverse("admin:billing_modelconfig_change", args=[own.pk])

    page = client.get(url)
    assert page.status_code == 200
    assert "owner" not in page.context["adminform"].form.fields
    response = client.post(url, _form(own, owner="", priority="1"))

    assert response.status_code == 302, response.content.decode()[:2000]
    own.refresh_from_db()
    assert own.priority == 1 and own.owner == world.shop_admin
    client.post(url, _form(own, owner=world.agent.pk))
    own.refresh_from_db()
    assert own.owner == world.shop_admin


def test_a_superadmin_still_sets_the_owner_in_the_admin(client, world, llm_config):
    config = llm_config("gpt-a", owner=world.shop_admin)
    client.force_login(world.superadmin)
    url = reverse("admin:billing_modelconfig_change", args=[config.pk])

    assert client.post(url, _form(config, owner="")).status_code == 302
    config.refresh_from_db()
    assert config.owner is None


def test_the_api_and_the_service_keep_the_owner_of_a_non_superadmins_config(client_for, world, llm_config):
    own = llm_config("gpt-own", owner=world.shop_admin)

    response = client_for(world.shop_admin).patch(f"/api/model-configs/{own.pk}", {"owner": None, "priority": 3},
                                                  format="json")
    assert response.status_code == 200, response.json()
    own.refresh_from_db()
    assert own.owner == world.shop_admin and own.priority == 3

    with pytest.raises(BillingError) as caught:
        model_config_update(actor=world.shop_admin, config=own, owner=None)
    assert caught.value.code == "owner_fixed" and caught.value.status_code == 403
    own.refresh_from_db()
    assert own.owner == world.shop_admin
    model_config_update(actor=world.superadmin, config=own, owner=None)
    own.refresh_from_db()
    assert own.owner is None
