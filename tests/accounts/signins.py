"""Signing in the ways people do: the API (a JWT pair) and the admin's login page (a browser session)."""

from rest_framework.test import APIClient

from tests.accounts.factories import PASSWORD

NEW_PASSWORD = "Quite-another-pass-2468"


def api_login(username, password=PASSWORD, **extra) -> dict:
    """Returns the login answer: user, access, refresh."""
    response = APIClient().post("/api/auth/login", {"username": username, "password": password}, format="json", **extra)
    assert response.status_code == 200, response.content
    return response.json()


def bearer(tokens: dict) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    return client


def refresh(tokens: dict):
    return APIClient().post("/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json")


def admin_login(client, username, password=PASSWORD):
    response = client.post("/admin/login/", {"username": username, "password": password})
    assert response.status_code == 302, response.content[:300]
    return client


def signed_in(client) -> bool:
    """Whether the browser ``client`` still reaches the admin index (else: the login page)."""
    return client.get("/admin/").status_code == 200
