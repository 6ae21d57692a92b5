"""Browser sign-ins (admin and browsable API): their LoginSession follows the Django session."""

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.test import Client

from accounts.models import LoginSession
from accounts.services import login_session_revoke
from tests.accounts.factories import PASSWORD
from tests.accounts.signins import NEW_PASSWORD, admin_login, signed_in


def revoke_in_admin(superadmin, login_session):
    client = Client()
    client.force_login(superadmin)
    response = client.post(
        "/admin/accounts/loginsession/", {"action": "revoke_selected", "_selected_action": [login_session.pk]}
    )
    assert response.status_code == 302


@pytest.mark.django_db
def test_revoking_a_browser_sign_in_after_a_password_change_signs_that_browser_out(world, client):
    admin_login(client, "shopadmin")
    key_at_login = client.session.session_key
    changed = client.post(
        "/admin/password_change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert changed.status_code == 302
    key_now = client.session.session_key
    assert key_now != key_at_login  # Django gave the session a new key
    assert signed_in(client)  # and kept this browser signed in

    revoke_in_admin(world.superadmin, LoginSession.objects.get(user=world.shop_admin, kind="session"))

    assert not Session.objects.filter(session_key=key_now).exists()
    assert client.get("/api/auth/me").status_code in (401, 403)
    assert not signed_in(client)


@pytest.mark.django_db
def test_a_revoked_sign_in_signs_the_browser_out_whatever_key_its_session_has_now(world, client):
    admin_login(client, "agent")
    login_session = LoginSession.objects.get(user=world.agent, kind="session")
    # A key change no request of ours saw: the row still names the old key.
    store = SessionStore(session_key=client.session.session_key)
    store.load()
    store.cycle_key()
    client.cookies["sessionid"] = store.session_key
    assert signed_in(client)

    login_session_revoke(login_session=LoginSession.objects.get(pk=login_session.pk))

    assert client.get("/api/auth/me").status_code in (401, 403)
    assert not signed_in(client)


@pytest.mark.django_db
def test_signing_out_of_the_admin_ends_the_sign_in(world, client):
    admin_login(client, "agent")
    assert client.post("/admin/logout/").status_code == 200
    assert LoginSession.objects.get(user=world.agent, kind="session").revoked_at is not None


@pytest.mark.django_db
def test_signing_in_again_in_the_same_browser_ends_the_earlier_sign_in(world, client):
    admin_login(client, "agent")
    admin_login(client, "agent")
    rows = LoginSession.objects.filter(user=world.agent, kind="session").order_by("created_at")
    assert [row.is_active for row in rows] == [False, True]
