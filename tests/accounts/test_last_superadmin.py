"""Someone must stay able to run kefu: the last active superadmin cannot demote, deactivate or delete themselves."""

import pytest

from accounts.models import User
from accounts.services import LastSuperadmin, user_deactivate, user_delete, user_update
from tests.accounts.factories import SuperadminFactory


def active_superadmins():
    return sorted(User.objects.filter(is_superadmin=True, is_active=True).values_list("username", flat=True))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "method, body",
    [("patch", {"is_superadmin": False}), ("patch", {"is_active": False}), ("delete", None)],
    ids=["demote", "deactivate", "delete"],
)
def test_the_api_refuses_to_remove_the_last_superadmin_with_a_409(world, client_for, method, body):
    response = getattr(client_for(world.superadmin), method)(f"/api/users/{world.superadmin.pk}", body, format="json")
    assert response.status_code == 409
    assert response.json()["error"] == "last_superadmin"
    assert "root" in response.json()["message"]
    assert active_superadmins() == ["root"]


@pytest.mark.django_db
def test_with_another_superadmin_one_may_step_down(world, client_for):
    SuperadminFactory(username="root2")
    response = client_for(world.superadmin).patch(
        f"/api/users/{world.superadmin.pk}", {"is_superadmin": False}, format="json"
    )
    assert response.status_code == 200
    assert active_superadmins() == ["root2"]


@pytest.mark.django_db
def test_the_services_refuse_too(world):
    with pytest.raises(LastSuperadmin):
        user_update(user=world.superadmin, is_superadmin=False)
    with pytest.raises(LastSuperadmin):
        user_deactivate(user=User.objects.get(pk=world.superadmin.pk))
    with pytest.raises(LastSuperadmin):
        user_delete(user=User.objects.get(pk=world.superadmin.pk))
    assert active_superadmins() == ["root"]


@pytest.mark.django_db
def test_an_inactive_superadmin_does_not_count(world):
    SuperadminFactory(username="dormant", is_active=False)
    with pytest.raises(LastSuperadmin):
        user_deactivate(user=world.superadmin)


@pytest.mark.django_db
def test_deleting_a_person_through_the_api_deactivates_them(world, client_for):
    response = client_for(world.superadmin).delete(f"/api/users/{world.agent.pk}")
    assert response.status_code == 204
    world.agent.refresh_from_db()
    assert not world.agent.is_active


def change_form(user, **overrides):
    data = {"username": user.username, "email": user.email, "is_active": "on", "is_superadmin": "on",
            "is_staff": "on", "daily_request_quota": 1000}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.django_db
@pytest.mark.parametrize("unticked", ["is_superadmin", "is_active"])
def test_the_admin_form_refuses_to_remove_the_last_superadmin(world, client, unticked):
    client.force_login(world.superadmin)
    response = client.post(
        f"/admin/accounts/user/{world.superadmin.pk}/change/", change_form(world.superadmin, **{unticked: None})
    )
    assert response.status_code == 200
    assert "root is the last active superadmin" in response.content.decode().lower()
    assert active_superadmins() == ["root"]


@pytest.mark.django_db
def test_the_admin_delete_page_refuses_the_last_superadmin_with_a_message(world, client):
    client.force_login(world.superadmin)
    url = f"/admin/accounts/user/{world.superadmin.pk}/delete/"
    for response in (client.get(url, follow=True), client.post(url, {"post": "yes"}, follow=True)):
        assert response.status_code == 200
        assert "root is the last active superadmin" in response.content.decode().lower()
    assert active_superadmins() == ["root"]


@pytest.mark.django_db
def test_the_admin_delete_page_deletes_other_people(world, client):
    client.force_login(world.superadmin)
    response = client.post(f"/admin/accounts/user/{world.agent.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=world.agent.pk).exists()


@pytest.mark.django_db
def test_the_admin_deactivates_people_in_bulk_but_not_the_last_superadmin(world, client):
    client.force_login(world.superadmin)
    response = client.post(
        "/admin/accounts/user/",
        {"action": "deactivate_selected", "_selected_action": [world.agent.pk, world.superadmin.pk]},
        follow=True,
    )
    page = response.content.decode().lower()
    assert "root is the last active superadmin" in page and "1 person deactivated" in page
    assert list(User.objects.filter(is_active=False).values_list("username", flat=True)) == ["agent"]
    assert active_superadmins() == ["root"]


@pytest.mark.django_db
def test_the_admin_offers_no_bulk_delete_of_people(world, client):
    client.force_login(world.superadmin)
    assert "delete_selected" not in client.get("/admin/accounts/user/").content.decode()
