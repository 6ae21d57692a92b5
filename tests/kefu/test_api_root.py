import pytest


@pytest.mark.django_db
def test_the_api_root_lists_every_apps_resources(world, client_for):
    body = client_for(world.superadmin).get("/api/").json()
    assert {"users", "shops"} <= set(body)
    assert body["shops"].rstrip("/").endswith("/api/shops")


@pytest.mark.django_db
def test_the_browsable_api_renders_html_for_a_browser(world, client):
    client.force_login(world.superadmin)
    page = client.get("/api/shops/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200 and "甜品旗舰店" in page.content.decode()
