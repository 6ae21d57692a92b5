"""Shops come and go through their services: a delete that can be undone, then a confirmed purge."""

import pytest
from django.core.exceptions import ValidationError

from billing.models import Budget
from configs import services as config_services
from configs.models import UserConfig
from customer_service.shops import services
from customer_service.shops.models import Shop, ShopMembership
from customer_service.shops.roles import shop_roles
from customer_service.shops.selectors import shop_is_manageable
from kefu.exceptions import Conflict, KefuError, PermissionDenied
from knowledge.models import KnowledgeItem
from tests.billing.factories import BudgetFactory
from tests.configs.factories import ConfigTemplateFactory
from tests.knowledge.factories import KnowledgeItemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stocked(world):
    """world.shop with knowledge, a budget and a config of its own."""
    KnowledgeItemFactory(shop=world.shop, question="发什么快递？", answer="默认中通。")
    BudgetFactory(shop=world.shop)
    config_services.config_create(actor=world.shop_admin, template=ConfigTemplateFactory(), shop=world.shop,
                                  values={"model": "m"})
    return world.shop


def owned(shop) -> tuple[int, int, int, int]:
    return (KnowledgeItem.all_objects.filter(shop_id=shop.pk).count(), Budget.objects.filter(shop_id=shop.pk).count(),
            UserConfig.objects.filter(shop_id=shop.pk).count(), ShopMembership.objects.filter(shop_id=shop.pk).count())


def test_a_deleted_shop_is_hidden_with_its_roles_and_keeps_what_it_owns(world, stocked):
    assert shop_is_manageable(user=world.shop_admin, shop=stocked)
    services.shop_delete(actor=world.superadmin, shop=stocked)
    assert not Shop.objects.filter(pk=stocked.pk).exists()
    assert shop_roles(world.shop_admin) == {} and not shop_is_manageable(user=world.shop_admin, shop=stocked)
    assert KnowledgeItem.objects.for_user(world.agent).count() == 0
    assert owned(stocked) == (1, 1, 1, 2)
    with pytest.raises(Conflict):
        services.shop_delete(actor=world.superadmin, shop=stocked)

    services.shop_restore(actor=world.superadmin, shop=stocked)
    assert Shop.objects.filter(pk=stocked.pk).exists() and shop_is_manageable(user=world.shop_admin, shop=stocked)
    assert KnowledgeItem.objects.for_user(world.agent).count() == 1
    with pytest.raises(Conflict):
        services.shop_restore(actor=world.superadmin, shop=stocked)


def test_a_purge_needs_the_shop_deleted_first_and_its_name_typed(world, stocked):
    with pytest.raises(Conflict):
        services.shop_purge(actor=world.superadmin, shop=stocked, confirm_name=stocked.name)
    services.shop_delete(actor=world.superadmin, shop=stocked)
    with pytest.raises(KefuError) as refused:
        services.shop_purge(actor=world.superadmin, shop=stocked, confirm_name="数码专营店")
    assert refused.value.code == "shop_purge_unconfirmed" and owned(stocked) == (1, 1, 1, 2)

    counts = services.shop_purge(actor=world.superadmin, shop=stocked, confirm_name="甜品旗舰店")
    assert counts["knowledge.KnowledgeItem"] == 1 and counts["billing.Budget"] == 1
    assert counts["configs.UserConfig"] == 1 and counts["customer_service.ShopMembership"] == 2
    assert not Shop.all_objects.filter(pk=stocked.pk).exists() and owned(stocked) == (0, 0, 0, 0)
    assert Shop.objects.filter(pk=world.other_shop.pk).exists()


@pytest.mark.parametrize("who", ["shop_admin", "agent", "outsider"])
def test_only_a_superadmin_creates_deletes_restores_and_purges_shops(world, who):
    person = getattr(world, who)
    with pytest.raises(PermissionDenied):
        services.shop_create(actor=person, name="新店")
    with pytest.raises(PermissionDenied):
        services.shop_delete(actor=person, shop=world.shop)
    services.shop_delete(actor=world.superadmin, shop=world.other_shop)
    with pytest.raises(PermissionDenied):
        services.shop_restore(actor=person, shop=world.other_shop)
    with pytest.raises(PermissionDenied):
        services.shop_purge(actor=person, shop=world.other_shop, confirm_name=world.other_shop.name)
    assert [(shop.name, shop.is_deleted) for shop in Shop.all_objects.all()] == [("数码专营店", True),
                                                                                ("甜品旗舰店", False)]


def test_a_shop_admin_changes_their_shop_and_nobody_else_does(world):
    services.shop_update(actor=world.shop_admin, shop=world.shop, qianniu_title="甜品 - 接待中心")
    for person in (world.agent, world.outsider):
        with pytest.raises(PermissionDenied):
            services.shop_update(actor=person, shop=world.shop, qianniu_title="别人的")
    world.shop.refresh_from_db()
    assert world.shop.qianniu_title == "甜品 - 接待中心"


def test_a_deleted_shops_name_is_refused_until_it_is_purged(world):
    services.shop_delete(actor=world.superadmin, shop=world.other_shop)
    with pytest.raises(ValidationError) as refused:
        services.shop_create(actor=world.superadmin, name="数码专营店")
    assert "restore it, or purge it first" in str(refused.value)
    with pytest.raises(ValidationError):
        services.shop_update(actor=world.superadmin, shop=world.shop, name="数码专营店")
    services.shop_purge(actor=world.superadmin, shop=world.other_shop, confirm_name="数码专营店")
    assert services.shop_create(actor=world.superadmin, name="数码专营店").pk


def test_the_api_deletes_restores_and_purges(world, client_for):
    root = client_for(world.superadmin)
    url = f"/api/shops/{world.shop.pk}/"
    assert root.delete(url).status_code == 204
    assert root.get(url).status_code == 404
    assert client_for(world.shop_admin).post(url + "restore/").status_code == 404
    assert root.post(url + "restore/").json()["name"] == "甜品旗舰店"
    assert root.post(url + "purge/", {"confirm": "甜品旗舰店"}, format="json").json()["error"] == "shop_not_deleted"
    root.delete(url)
    refused = root.post(url + "purge/", {"confirm": "甜品"}, format="json")
    assert (refused.status_code, refused.json()["error"]) == (400, "shop_purge_unconfirmed")
    response = root.post(url + "purge/", {"confirm": "甜品旗舰店"}, format="json")
    assert response.status_code == 200 and response.json()["deleted"]["customer_service.Shop"] == 1
    assert not Shop.all_objects.filter(pk=world.shop.pk).exists()
    taken = root.post("/api/shops/", {"name": "数码专营店"}, format="json")
    assert taken.status_code == 400 and "name" in str(taken.json())


def test_the_admin_deletes_then_purges_after_its_confirmation_page(world, client, stocked):
    client.force_login(world.superadmin)
    response = client.post(f"/admin/customer_service/shop/{stocked.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and Shop.all_objects.get(pk=stocked.pk).is_deleted
    changelist = "/admin/customer_service/shop/"
    picked = {"action": "purge_selected", "_selected_action": [stocked.pk, world.other_shop.pk]}
    assert "数码专营店" in client.post(changelist + "?deleted=all", picked).content.decode()  # the page lists them
    refused = client.post(changelist + "?deleted=all", {**picked, "confirm_purge": "yes"}, follow=True)
    assert "only deleted shops can be purged" in refused.content.decode() and owned(stocked) == (1, 1, 1, 2)
    done = client.post(changelist + "?deleted=yes", {"action": "purge_selected", "_selected_action": [stocked.pk],
                                                     "confirm_purge": "yes"})
    assert done.status_code == 302 and owned(stocked) == (0, 0, 0, 0)
    assert not Shop.all_objects.filter(pk=stocked.pk).exists()


def test_the_admins_membership_rows_go_through_the_services(world, client):
    from tests.customer_service.test_membership_admin import shop_form

    client.force_login(world.superadmin)
    own = ShopMembership.objects.get(user=world.shop_admin, shop=world.shop)
    agent = ShopMembership.objects.get(user=world.agent, shop=world.shop)
    assert shop_roles(world.agent) == {world.shop.pk: "agent"}
    response = client.post(f"/admin/customer_service/shop/{world.shop.pk}/change/", shop_form(world, [
        {"id": own.pk, "user": world.shop_admin.pk, "role": "admin"},
        {"id": agent.pk, "user": world.agent.pk, "role": "agent", "DELETE": "on"},
    ]))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert shop_roles(world.agent) == {}
    world.shop.refresh_from_db()
    assert world.shop.updated_by == world.superadmin
