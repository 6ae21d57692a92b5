"""A new password or a deactivation ends every sign-in of the person, whichever way it is made."""

import pytest
from django.test import Client

from accounts.models import LoginSession
from tests.accounts.factories import PASSWORD
from tests.accounts.signins import NEW_PASSWORD, admin_login, api_login, bearer, refresh, signed_in


def sign_in_twice(username):
    """An API sign-in and a browser sign-in; returns (tokens, browser)."""
    return api_login(username), admin_login(Client(), username)


def assert_all_ended(user, tokens, browser):
    assert bearer(tokens).get("/api/auth/me").status_code == 401
    assert refresh(tokens).status_code == 401
    assert not signed_in(browser)
    assert not LoginSession.objects.filter(user=user).active().exists()


@pytest.mark.django_db
def test_a_password_set_through_the_api_ends_every_sign_in(world, client_for):
    tokens, browser = sign_in_twice("agent")
    response = client_for(world.superadmin).patch(
        f"/api/users/{world.agent.pk}", {"password": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 200
    assert_all_ended(world.agent, tokens, browser)
    assert api_login("agent", NEW_PASSWORD)["access"]


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["patch", "delete"])
def test_deactivating_through_the_api_ends_every_sign_in(world, client_for, how):
    tokens, browser = sign_in_twice("agent")
    api = client_for(world.superadmin)
    if how == "patch":
        response = api.patch(f"/api/users/{world.agent.pk}", {"is_active": False}, format="json")
    else:
        response = api.delete(f"/api/users/{world.agent.pk}")
    assert response.status_code in (200, 204)
    assert_all_ended(world.agent, tokens, browser)


@pytest.mark.django_db
def test_the_admin_password_page_ends_every_sign_in_of_that_person(world, client):
    tokens, browser = sign_in_twice("agent")
    client.force_login(world.superadmin)
    response = client.post(
        f"/admin/accounts/user/{world.agent.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )
    assert response.status_code == 302
    assert_all_ended(world.agent, tokens, browser)
    assert signed_in(client)  # the superadmin who changed it stays


@pytest.mark.django_db
def test_unticking_active_in_the_admin_ends_every_sign_in(world, client):
    tokens, browser = sign_in_twice("agent")
    client.force_login(world.superadmin)
    agent = world.agent
    response = client.post(
        f"/admin/accounts/user/{agent.pk}/change/",
        {"username": agent.username, "email": agent.email, "is_staff": "on", "daily_request_quota": 1000},
    )
    assert response.status_code == 302, response.content[:500]
    agent.refresh_from_db()
    assert not agent.is_active
    assert_all_ended(agent, tokens, browser)


@pytest.mark.django_db
def test_changing_ones_own_password_keeps_this_browser_and_ends_the_others(world, client):
    tokens, other_browser = sign_in_twice("shopadmin")
    admin_login(client, "shopadmin")
    response = client.post(
        "/admin/password_change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert client.get(response["Location"]).status_code == 200  # "password changed", still signed in
    assert signed_in(client)
    assert not signed_in(other_browser)
    assert bearer(tokens).get("/api/auth/me").status_code == 401
    assert refresh(tokens).status_code == 401
    assert LoginSession.objects.filter(user=world.shop_admin).active().count() == 1


@pytest.mark.django_db
def test_other_changes_keep_the_sign_ins(world, client_for):
    tokens, browser = sign_in_twice("agent")
    response = client_for(world.superadmin).patch(
        f"/api/users/{world.agent.pk}", {"daily_request_quota": 5}, format="json"
    )
    assert response.status_code == 200
    assert bearer(tokens).get("/api/auth/me").status_code == 200
    assert signed_in(browser)


@pytest.mark.django_db
def test_a_password_hash_upgraded_at_sign_in_is_no_change(world, settings):
    tokens = api_login("agent")  # the password is stored with the tests' MD5 hasher
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    api_login("agent")  # Django re-hashes it with PBKDF2 here
    world.agent.refresh_from_db()
    assert world.agent.password.startswith("pbkdf2_")
    assert bearer(tokens).get("/api/auth/me").status_code == 200


@pytest.mark.django_db
def test_a_superadmin_changing_their_own_password_through_the_api_keeps_that_sign_in(world):
    world.superadmin.set_password(PASSWORD)
    world.superadmin.save()
    other_tokens, other_browser = sign_in_twice("root")
    tokens = api_login("root")
    me = f"/api/users/{world.superadmin.pk}"
    assert bearer(tokens).patch(me, {"password": NEW_PASSWORD}, format="json").status_code == 200
    assert bearer(tokens).get("/api/auth/me").status_code == 200 and refresh(tokens).status_code == 200
    assert bearer(other_tokens).get("/api/auth/me").status_code == 401 and not signed_in(other_browser)
    browser = admin_login(Client(), "root", NEW_PASSWORD)
    csrf_free = Client(enforce_csrf_checks=False)
    csrf_free.cookies = browser.cookies
    assert csrf_free.patch(me, {"password": PASSWORD}, content_type="application/json").status_code == 200
    assert signed_in(csrf_free) and bearer(tokens).get("/api/auth/me").status_code == 401
