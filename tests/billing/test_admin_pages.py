import pytest
from django.urls import reverse

from billing import router
from billing.services import budget_set

pytestmark = pytest.mark.django_db

MODELS = ["provider", "aimodel", "modelconfig", "modelpricing", "usagerecord", "requestlog", "budget",
          "spendcounter", "shopmodelchoice"]


@pytest.mark.parametrize("model", MODELS)
def test_every_billing_admin_page_renders_for_a_superadmin(client, world, llm_config, fake_llm, model):
    llm_config("gpt-a", log_requests=True)
    router.chat([{"role": "user", "content": "hi"}], user=world.agent, shop=world.shop)
    budget_set(actor=world.superadmin, shop=world.shop, monthly_limit=10)
    client.force_login(world.superadmin)

    listing = client.get(reverse(f"admin:billing_{model}_changelist"))
    assert listing.status_code == 200
    from django.apps import apps

    row = apps.get_model("billing", model).objects.first()
    if row is not None:
        assert client.get(reverse(f"admin:billing_{model}_change", args=[row.pk])).status_code == 200


def test_a_shop_admin_sees_only_their_shops_usage_in_the_admin(client, world, llm_config, fake_llm):
    llm_config("gpt-a")
    router.chat([{"role": "user", "content": "ours"}], user=world.agent, shop=world.shop)
    router.chat([{"role": "user", "content": "theirs"}], user=world.outsider, shop=world.other_shop)
    client.force_login(world.shop_admin)

    html = client.get(reverse("admin:billing_usagerecord_changelist")).content.decode()

    assert world.shop.name in html and world.other_shop.name not in html
    assert client.get(reverse("admin:billing_requestlog_changelist")).status_code == 403


def test_the_openapi_schema_includes_the_billing_endpoints(client_for, world):
    response = client_for(world.superadmin).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    body = response.content.decode()
    for path in ("/api/providers/{id}/test", "/api/usage/aggregates", "/api/model-configs/", "/api/pricing/"):
        assert path in body, path
