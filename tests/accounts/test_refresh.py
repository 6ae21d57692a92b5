"""POST /api/auth/refresh: a new access token only while the person and the sign-in are live."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import LoginSession, User
from tests.accounts.signins import api_login, bearer, refresh


def assert_refused(response):
    assert response.status_code == 401
    body = response.json()
    assert set(body) == {"error", "message", "detail"}
    assert body["error"] == "authentication_failed" and body["message"]


@pytest.mark.django_db
def test_a_live_refresh_token_gets_a_working_access_token(world):
    response = refresh(api_login("agent"))
    assert response.status_code == 200
    assert bearer(response.json()).get("/api/auth/me").json()["username"] == "agent"


@pytest.mark.django_db
def test_the_token_of_a_deleted_person_is_a_coded_401(world):
    tokens = api_login("agent")
    User.objects.filter(pk=world.agent.pk).delete()  # e.g. from the shell, which ends nothing
    assert_refused(refresh(tokens))


@pytest.mark.django_db
def test_the_token_of_a_deactivated_person_is_a_coded_401(world):
    tokens = api_login("agent")
    User.objects.filter(pk=world.agent.pk).update(is_active=False)
    assert_refused(refresh(tokens))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "ended", [{"revoked_at": timezone.now()}, {"expires_at": timezone.now() - timedelta(seconds=1)}],
    ids=["revoked", "expired"],
)
def test_a_token_whose_sign_in_ended_is_a_coded_401_even_if_not_blacklisted(world, ended):
    tokens = api_login("agent")
    LoginSession.objects.filter(user=world.agent).update(**ended)
    assert_refused(refresh(tokens))


@pytest.mark.django_db
def test_garbage_is_a_coded_401(world):
    assert_refused(refresh({"refresh": "not-a-token"}))
