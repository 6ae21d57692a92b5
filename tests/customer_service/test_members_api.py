"""POST /api/shops/<id>/members: who may be added, and by whom."""

import pytest

from customer_service.models import ShopMembership
from customer_service.shops.services import shop_membership_set
from kefu.exceptions import PermissionDenied


@pytest.mark.django_db
@pytest.mark.parametrize("person", ["superadmin", "outsider"])
def test_a_shop_admin_cannot_add_a_person_they_do_not_see_and_learns_nothing_about_the_id(world, client_for, person):
    client = client_for(world.shop_admin)
    url = f"/api/shops/{world.shop.pk}/members"
    target = getattr(world, person)
    refused = client.post(url, {"user": target.pk, "role": "agent"}, format="json")
    nobody = client.post(url, {"user": 999_999, "role": "agent"}, format="json")
    # Exactly the answer for an id nobody has: the ids of real people cannot be told apart.
    assert refused.status_code == nobody.status_code == 400
    assert refused.json()["error"] == nobody.json()["error"]
    assert refused.json()["message"].replace(str(target.pk), "N") == nobody.json()["message"].replace("999999", "N")
    assert not ShopMembership.objects.filter(user=target, shop=world.shop).exists()


@pytest.mark.django_db
def test_a_superadmin_may_add_a_superadmin(world, client_for):
    response = client_for(world.superadmin).post(
        f"/api/shops/{world.shop.pk}/members", {"user": world.superadmin.pk, "role": "agent"}, format="json"
    )
    assert response.status_code == 201


@pytest.mark.django_db
def test_the_service_refuses_too(world):
    with pytest.raises(PermissionDenied):
        shop_membership_set(actor=world.shop_admin, shop=world.shop, user=world.superadmin, role="agent")


@pytest.mark.django_db
def test_a_shop_admin_may_still_change_the_role_of_a_superadmin_already_in_the_shop(world):
    shop_membership_set(actor=world.superadmin, shop=world.shop, user=world.superadmin, role="agent")
    membership = shop_membership_set(actor=world.shop_admin, shop=world.shop, user=world.superadmin, role="admin")
    assert membership.role == "admin"
