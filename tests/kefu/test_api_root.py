import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse


def _list_routes(patterns, prefix=""):
    """``(route name, pattern)`` of every resource's list view the URL configuration serves: each
    viewset route answering GET with ``list``, whichever router or app put it there."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _list_routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            actions = getattr(pattern.callback, "actions", None) or {}
            if actions.get("get") == "list":
                yield pattern.name, prefix + str(pattern.pattern)


def api_list_urls() -> dict[str, str]:
    """Every resource under /api/ by its list URL, derived from the URL configuration."""
    urls = {}
    for name, route in _list_routes(get_resolver().url_patterns):
        url = reverse(name)
        if url.startswith("/api/"):
            urls[url] = route
    return urls


def test_the_url_configuration_serves_each_apps_resources():
    """The derivation below finds what the apps register (a few known ones as a check on it)."""
    found = set(api_list_urls())
    for url in ("/api/users", "/api/shops", "/api/knowledge", "/api/providers", "/api/configs"):
        assert any(u.rstrip("/") == url for u in found), url


@pytest.mark.django_db
def test_the_api_root_lists_every_apps_resources(world, client_for):
    client = client_for(world.superadmin)
    body = client.get("/api/").json()
    listed = {url.removeprefix("http://testserver").rstrip("/") for url in body.values()}
    expected = {url.rstrip("/") for url in api_list_urls()}
    assert expected - listed == set(), "resources the API root does not list"
    assert listed - expected == set(), "links in the API root that lead to no resource"
    for name, url in body.items():
        assert url.rstrip("/").endswith(f"/api/{name}")
        assert client.get(url).status_code == 200, url


@pytest.mark.django_db
def test_the_browsable_api_renders_html_for_a_browser(world, client):
    client.force_login(world.superadmin)
    page = client.get("/api/shops/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200 and "甜品旗舰店" in page.content.decode()
