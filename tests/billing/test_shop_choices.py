import pytest
from django.urls import reverse

from billing import router
from billing.exceptions import BillingError
from billing.models import ShopModelChoice
from billing.services import shop_model_choice_save

pytestmark = pytest.mark.django_db
HI = [{"role": "user", "content": "在吗"}]


def test_a_shop_admin_adds_their_shops_first_choice_in_the_admin(client, world, llm_config):
    system = llm_config("gpt-system")
    client.force_login(world.shop_admin)
    url = reverse("admin:billing_shopmodelchoice_add")

    assert client.get(url).status_code == 200
    response = client.post(url, {"shop": world.shop.pk, "capability": "text", "config": system.pk})

    assert response.status_code == 302, response.content.decode()[:2000]
    assert ShopModelChoice.objects.get().config == system


def test_an_agent_cannot_add_a_shop_choice(client, world, llm_config):
    client.force_login(world.agent)
    assert client.get(reverse("admin:billing_shopmodelchoice_add")).status_code == 403


def test_the_admin_offers_and_accepts_system_configs_and_the_persons_own_key_only(client, world, llm_config):
    system = llm_config("gpt-system")
    own = llm_config("gpt-own", owner=world.shop_admin)
    private = llm_config("gpt-private", owner=world.outsider)
    client.force_login(world.shop_admin)
    url = reverse("admin:billing_shopmodelchoice_add")

    offered = client.get(url).context["adminform"].form.fields["config"].queryset
    assert set(offered) == {system, own}
    refused = client.post(url, {"shop": world.shop.pk, "capability": "text", "config": private.pk})
    assert refused.status_code == 200 and "config" in refused.context["adminform"].form.errors
    assert not ShopModelChoice.objects.exists()

    choice = ShopModelChoice.objects.create(shop=world.shop, capability="text", config=system)
    change = reverse("admin:billing_shopmodelchoice_change", args=[choice.pk])
    refused = client.post(change, {"shop": world.shop.pk, "capability": "text", "config": private.pk})
    assert refused.status_code == 200 and "config" in refused.context["adminform"].form.errors
    choice.refresh_from_db()
    assert choice.config == system
    assert client.post(change, {"shop": world.shop.pk, "capability": "text", "config": own.pk}).status_code == 302
    choice.refresh_from_db()
    assert choice.config == own


def test_the_service_refuses_another_persons_key_and_a_shop_the_actor_does_not_administer(world, llm_config):
    system = llm_config("gpt-system")
    private = llm_config("gpt-private", owner=world.outsider)

    with pytest.raises(BillingError) as caught:
        shop_model_choice_save(actor=world.shop_admin, choice=ShopModelChoice(shop=world.shop, config=private))
    assert caught.value.code == "config_not_assignable" and caught.value.status_code == 403
    with pytest.raises(BillingError) as caught:
        shop_model_choice_save(actor=world.superadmin, choice=ShopModelChoice(shop=world.shop, config=private))
    assert caught.value.code == "config_not_assignable"
    with pytest.raises(BillingError) as caught:
        shop_model_choice_save(actor=world.agent, choice=ShopModelChoice(shop=world.shop, config=system))
    assert caught.value.code == "permission_denied"
    assert not ShopModelChoice.objects.exists()


def test_the_router_never_uses_another_persons_key_chosen_for_a_shop_or_asked_for(world, llm_config, fake_llm):
    llm_config("gpt-system", is_default=True)
    private = llm_config("gpt-private", owner=world.outsider, priority=999)
    ShopModelChoice.objects.create(shop=world.shop, capability="text", config=private)  # a row from before the fix

    assert router.chat(HI, user=world.agent, shop=world.shop).config.model_code == "gpt-system"
    assert router.chat(HI, user=world.agent, config=private).config.model_code == "gpt-system"
    assert router.chat(HI, user=None, shop=world.shop).config.model_code == "gpt-system"
    assert "gpt-private" not in fake_llm.calls
    # its owner still gets it
    assert router.chat(HI, user=world.outsider, config=private).config == private
