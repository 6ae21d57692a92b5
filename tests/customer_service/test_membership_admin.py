"""Shop memberships in the admin: a saved membership keeps its shop and person."""

import pytest

from customer_service.models import ShopMembership


def memberships(user):
    return sorted(ShopMembership.objects.filter(user=user).values_list("shop__name", "role"))


@pytest.mark.django_db
def test_the_membership_page_changes_the_role_but_not_the_shop_or_person(world, client):
    client.force_login(world.superadmin)
    membership = ShopMembership.objects.get(user=world.agent, shop=world.shop)
    url = f"/admin/customer_service/shopmembership/{membership.pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="shop"' not in page and 'name="user"' not in page
    response = client.post(url, {"shop": world.other_shop.pk, "user": world.outsider.pk, "role": "admin"})
    assert response.status_code == 302
    assert memberships(world.agent) == [("甜品旗舰店", "admin")]
    assert memberships(world.outsider) == [("数码专营店", "admin")]


def shop_form(world, rows):
    data = {
        "name": world.shop.name, "qianniu_title": world.shop.qianniu_title, "is_active": "on",
        "memberships-TOTAL_FORMS": str(len(rows)), "memberships-INITIAL_FORMS": str(sum(1 for r in rows if "id" in r)),
    }
    for index, row in enumerate(rows):
        data.update({f"memberships-{index}-{key}": value for key, value in row.items()})
        data[f"memberships-{index}-shop"] = world.shop.pk
    return data


@pytest.mark.django_db
def test_the_shop_page_keeps_the_person_of_a_saved_membership(world, client):
    client.force_login(world.superadmin)
    own = ShopMembership.objects.get(user=world.shop_admin, shop=world.shop)
    agent = ShopMembership.objects.get(user=world.agent, shop=world.shop)
    rows = [
        {"id": own.pk, "user": world.shop_admin.pk, "role": "admin"},
        {"id": agent.pk, "user": world.outsider.pk, "role": "admin"},  # an attempt to swap the person
    ]
    response = client.post(f"/admin/customer_service/shop/{world.shop.pk}/change/", shop_form(world, rows))
    assert response.status_code == 302
    assert memberships(world.agent) == [("甜品旗舰店", "admin")]
    assert memberships(world.outsider) == [("数码专营店", "admin")]


def add_membership(client, world, user_id):
    return client.post("/admin/customer_service/shopmembership/add/",
                       {"shop": world.shop.pk, "user": user_id, "role": "agent"})


@pytest.mark.django_db
def test_a_shop_admin_cannot_give_a_superadmin_a_membership_in_the_admin(world, client):
    client.force_login(world.shop_admin)
    response = add_membership(client, world, world.superadmin.pk)
    assert response.status_code == 200  # the form again, with the error
    assert not ShopMembership.objects.filter(user=world.superadmin).exists()


@pytest.mark.django_db
def test_a_shop_admin_cannot_add_a_person_of_another_shop_in_the_admin_nor_learn_their_name(world, client):
    client.force_login(world.shop_admin)
    response = add_membership(client, world, world.outsider.pk)
    assert response.status_code == 200  # the form again, with the error
    assert world.outsider.username not in response.content.decode()
    assert memberships(world.outsider) == [("数码专营店", "admin")]
    assert add_membership(client, world, "9223372036854775808").status_code == 200


@pytest.mark.django_db
def test_a_shop_admin_may_add_a_person_of_another_of_their_shops_in_the_admin(world, client):
    from customer_service.models import Shop
    from tests.customer_service.factories import ShopMembershipFactory

    third = Shop.objects.create(name="第三家店")
    ShopMembershipFactory(shop=third, user=world.shop_admin, role="agent")
    ShopMembershipFactory(shop=third, user=world.outsider, role="agent")
    client.force_login(world.shop_admin)
    assert add_membership(client, world, world.outsider.pk).status_code == 302
    assert ("甜品旗舰店", "agent") in memberships(world.outsider)
