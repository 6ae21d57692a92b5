"""A person's shop roles: read once per person object, read again after any membership write."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from customer_service.models import Shop, ShopMembership
from customer_service.shops import services
from customer_service.shops.choices import ShopRole
from customer_service.shops.roles import shop_roles
from customer_service.shops.selectors import shop_is_manageable
from knowledge.models import KnowledgeItem
from tests.customer_service.factories import ShopFactory


def membership_queries(queries) -> int:
    """Queries that read a person's memberships (not those that list or count memberships)."""
    return sum(q["sql"].startswith('SELECT "customer_service_shopmembership"."shop_id"') for q in queries)


@pytest.mark.django_db
def test_the_roles_are_read_once_for_every_question_about_the_same_person(world):
    with CaptureQueriesContext(connection) as queries:
        assert shop_roles(world.shop_admin) == {world.shop.pk: ShopRole.ADMIN}
        assert shop_is_manageable(user=world.shop_admin, shop=world.shop)
        assert not shop_is_manageable(user=world.shop_admin, shop=world.other_shop)
        list(KnowledgeItem.objects.for_user(world.shop_admin))
        list(User.objects.for_user(world.shop_admin))
    assert membership_queries(queries) == 1


@pytest.mark.django_db
def test_a_membership_given_after_the_roles_were_read_is_seen_by_the_same_person_object(world):
    assert not shop_is_manageable(user=world.agent, shop=world.other_shop)
    services.shop_membership_set(actor=world.superadmin, shop=world.other_shop, user=world.agent, role=ShopRole.ADMIN)
    assert shop_is_manageable(user=world.agent, shop=world.other_shop)
    assert set(Shop.objects.for_user(world.agent)) == {world.shop, world.other_shop}


@pytest.mark.django_db
def test_a_changed_role_is_seen_by_the_same_person_object(world):
    assert shop_is_manageable(user=world.shop_admin, shop=world.shop)
    services.shop_membership_set(actor=world.superadmin, shop=world.shop, user=world.shop_admin, role=ShopRole.AGENT)
    assert not shop_is_manageable(user=world.shop_admin, shop=world.shop)
    assert shop_roles(world.shop_admin) == {world.shop.pk: ShopRole.AGENT}


@pytest.mark.django_db
def test_a_removed_membership_is_seen_by_the_same_person_object(world):
    KnowledgeItem.objects.create(shop=world.shop, question="发什么快递？", answer="默认中通。")
    assert KnowledgeItem.objects.for_user(world.agent).count() == 1
    services.shop_membership_remove(actor=world.shop_admin, shop=world.shop, user=world.agent)
    assert KnowledgeItem.objects.for_user(world.agent).count() == 0
    assert list(User.objects.for_user(world.agent)) == [world.agent]


@pytest.mark.django_db
def test_a_deleted_shop_takes_its_roles_with_it(world):
    doomed = ShopFactory(name="临时店")
    ShopMembership.objects.create(shop=doomed, user=world.agent, role=ShopRole.ADMIN)
    assert shop_is_manageable(user=world.agent, shop=doomed)
    doomed.delete()
    assert shop_roles(world.agent) == {world.shop.pk: ShopRole.AGENT}


@pytest.mark.django_db
def test_an_admin_page_reads_the_roles_once(world, client):
    client.force_login(world.shop_admin)
    for page in ("/admin/", "/admin/knowledge/knowledgeitem/", "/admin/accounts/user/"):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(page).status_code == 200
        assert membership_queries(queries) == 1, page

