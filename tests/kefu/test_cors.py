import pytest


@pytest.mark.django_db
def test_no_origin_is_allowed_by_default(client):
    response = client.get("/api/auth/me", HTTP_ORIGIN="https://evil.example.com")
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.django_db
def test_configured_origins_are_allowed_on_the_api_only(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://ops.example.com"]
    api = client.get("/api/auth/me", HTTP_ORIGIN="https://ops.example.com")
    assert api.headers["access-control-allow-origin"] == "https://ops.example.com"
    other = client.get("/api/auth/me", HTTP_ORIGIN="https://evil.example.com")
    assert "access-control-allow-origin" not in other.headers
    admin = client.get("/admin/login/", HTTP_ORIGIN="https://ops.example.com")
    assert "access-control-allow-origin" not in admin.headers
