"""Role × endpoint × shop: every person gets exactly what their role allows, and no foreign row.

``world`` has two shops: 甜品旗舰店 (shop admin "shopadmin", agent "agent") and
数码专营店 (its admin "outsider"), plus the superadmin "root".
"""

import pytest
from django.contrib import admin
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator

ROLES = ["superadmin", "shop_admin", "agent", "outsider", "anonymous"]


def person(world, role):
    return None if role == "anonymous" else getattr(world, role)


def names(response):
    body = response.json()
    rows = body["results"] if isinstance(body, dict) and "results" in body else body
    return sorted(row.get("name") or row.get("username") for row in rows)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "role, expected",
    [
        ("superadmin", ["数码专营店", "甜品旗舰店"]),
        ("shop_admin", ["甜品旗舰店"]),
        ("agent", ["甜品旗舰店"]),
        ("outsider", ["数码专营店"]),
    ],
)
def test_shop_list_shows_only_the_persons_shops(world, client_for, role, expected):
    response = client_for(person(world, role)).get("/api/shops/")
    assert response.status_code == 200
    assert names(response) == expected


@pytest.mark.django_db
@pytest.mark.parametrize(
    "role, expected",
    [
        ("superadmin", ["agent", "outsider", "root", "shopadmin"]),
        ("shop_admin", ["agent", "shopadmin"]),
        ("agent", ["agent", "shopadmin"]),
        ("outsider", ["outsider"]),
    ],
)
def test_user_list_shows_only_the_people_of_the_persons_shops(world, client_for, role, expected):
    response = client_for(person(world, role)).get("/api/users/")
    assert response.status_code == 200
    assert names(response) == expected


# (method, path template, body) → status for superadmin, shop_admin, agent, outsider, anonymous
SHOP_MATRIX = [
    ("get", "/api/shops/{shop}/", None, [200, 200, 200, 404, 401]),
    ("patch", "/api/shops/{shop}/", {"qianniu_title": "新标题"}, [200, 200, 403, 404, 401]),
    ("post", "/api/shops/", {"name": "新店"}, [201, 403, 403, 403, 401]),
    ("delete", "/api/shops/{shop}/", None, [204, 403, 403, 404, 401]),
    ("post", "/api/shops/{shop}/restore/", None, [409, 404, 404, 404, 401]),  # not deleted: nothing to restore
    ("post", "/api/shops/{shop}/purge/", {"confirm": "甜品旗舰店"}, [409, 404, 404, 404, 401]),  # delete first
    ("get", "/api/shops/{shop}/members/", None, [200, 200, 200, 404, 401]),
    # Pulling in a person of another shop is answered as an id nobody has (400), never 201.
    ("post", "/api/shops/{shop}/members/", {"user": "{outsider}", "role": "agent"}, [201, 400, 403, 404, 401]),
    ("post", "/api/shops/{shop}/members/", {"user": "{nobody}", "role": "agent"}, [400, 400, 403, 404, 401]),
    ("post", "/api/shops/{shop}/members/", {"user": "{agent}", "role": "admin"}, [201, 201, 403, 404, 401]),
    ("post", "/api/shops/{other_shop}/members/", {"user": "{agent}", "role": "agent"}, [201, 404, 404, 400, 401]),
    ("post", "/api/shops/{shop}/members/invite", {"username": "newbie", "password": "A-long-pass-phrase-9",
                                                   "role": "agent"}, [201, 201, 403, 404, 401]),
    ("delete", "/api/shops/{shop}/members/{agent}", None, [204, 204, 403, 404, 401]),
    ("delete", "/api/shops/{shop}/members/{outsider}", None, [404, 404, 403, 404, 401]),
    ("delete", "/api/shops/{other_shop}/members/{outsider}", None, [204, 404, 404, 204, 401]),
    ("get", "/api/users/{root}/", None, [200, 404, 404, 404, 401]),
    ("get", "/api/users/{agent}/", None, [200, 200, 200, 404, 401]),
    ("get", "/api/users/{outsider}/", None, [200, 404, 404, 200, 401]),
    ("get", "/api/users/{outsider}/sessions/", None, [200, 404, 404, 200, 401]),
    ("patch", "/api/users/{agent}/", {"daily_request_quota": 5}, [200, 403, 403, 404, 401]),
    ("post", "/api/users/", {"username": "newbie", "password": "A-long-pass-phrase-9"}, [201, 403, 403, 403, 401]),
    ("get", "/api/users/{agent}/sessions/", None, [200, 200, 200, 404, 401]),
    ("get", "/api/auth/me", None, [200, 200, 200, 200, 401]),
]


def fill(template, world):
    values = {
        "shop": world.shop.pk,
        "other_shop": world.other_shop.pk,
        "nobody": 999_999,
        "outsider": world.outsider.pk,
        "agent": world.agent.pk,
        "root": world.superadmin.pk,
    }
    if isinstance(template, str):
        text = template.format(**values)
        return int(text) if text.isdigit() else text
    if isinstance(template, dict):
        return {k: fill(v, world) for k, v in template.items()}
    return template


@pytest.mark.django_db
@pytest.mark.parametrize("method, path, body, statuses", SHOP_MATRIX, ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("role_index", range(len(ROLES)), ids=ROLES)
def test_endpoint_matrix(world, client_for, method, path, body, statuses, role_index):
    client = client_for(person(world, ROLES[role_index]))
    response = getattr(client, method)(fill(path, world), fill(body, world), format="json")
    assert response.status_code == statuses[role_index], response.content[:300]
    if response.status_code >= 400:
        assert response["Content-Type"].startswith("application/json")
        assert set(response.json()) == {"error", "message", "detail"}


@pytest.mark.django_db
def test_a_shop_admin_cannot_pull_in_and_then_read_a_person_of_another_shop(world, client_for):
    # The id-by-id answers are in tests/customer_service/test_members_api.py; here, what follows.
    client = client_for(world.shop_admin)
    members = f"/api/shops/{world.shop.pk}/members/"
    assert client.post(members, {"user": world.outsider.pk, "role": "agent"}, format="json").status_code == 400
    assert client.get(f"/api/users/{world.outsider.pk}/").status_code == 404
    assert world.outsider.username not in client.delete(f"{members}{world.outsider.pk}").content.decode()
    assert not world.shop.memberships.filter(user=world.outsider).exists()


@pytest.mark.django_db
def test_a_shop_admin_invites_a_new_person_who_joins_their_shop(world, client_for):
    client = client_for(world.shop_admin)
    response = client.post(f"/api/shops/{world.shop.pk}/members/invite",
                           {"username": "newbie", "password": "A-long-pass-phrase-9", "email": "n@example.com",
                            "role": "agent"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["username"] == "newbie" and response.json()["role"] == "agent"
    assert "newbie" in names(client.get("/api/users/"))
    taken = client.post(f"/api/shops/{world.shop.pk}/members/invite",
                        {"username": "Outsider", "password": "A-long-pass-phrase-9", "role": "agent"}, format="json")
    assert taken.status_code == 400  # a username in use, in any letter case, is a field error
    assert not world.shop.memberships.filter(user=world.outsider).exists()


def _list_endpoints():
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return sorted(path for path, methods in paths.items() if "get" in methods and "{" not in path)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_no_list_endpoint_leaks_the_other_shop(world, client_for, role):
    """Every GET list endpoint that exists: no 500, and nobody sees a shop they are not in."""
    client = client_for(person(world, role))
    foreign = {"shop_admin": "数码专营店", "agent": "数码专营店", "outsider": "甜品旗舰店"}.get(role)
    for path in _list_endpoints():
        if path.startswith("/api/schema") or path.startswith("/api/docs"):
            continue
        response = client.get(path)
        assert response.status_code < 500, path
        if foreign:
            assert foreign not in response.content.decode(), f"{role} sees {foreign} at {path}"


ADMIN_ROLES = ["superadmin", "shop_admin", "agent", "outsider"]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ADMIN_ROLES)
def test_every_admin_changelist_is_scoped(world, client, role):
    client.force_login(person(world, role))
    foreign = {"shop_admin": "数码专营店", "agent": "数码专营店", "outsider": "甜品旗舰店"}.get(role)
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = client.get(url)
        assert response.status_code in (200, 403), url
        if response.status_code == 200 and foreign:
            assert foreign not in response.content.decode(), f"{role} sees {foreign} at {url}"


@pytest.mark.django_db
def test_anonymous_admin_requests_go_to_the_login_page(client):
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_an_agent_sees_the_shop_page_read_only_and_cannot_post_changes(world, client):
    client.force_login(world.agent)
    url = reverse("admin:customer_service_shop_change", args=[world.shop.pk])
    page = client.get(url)
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    response = client.post(url, {"name": "改名", "qianniu_title": "x", "is_active": "on"})
    assert response.status_code == 403
    world.shop.refresh_from_db()
    assert world.shop.name == "甜品旗舰店"


@pytest.mark.django_db
def test_a_shop_admin_changes_their_shop_but_not_another(world, client):
    client.force_login(world.shop_admin)
    own = reverse("admin:customer_service_shop_change", args=[world.shop.pk])
    data = {
        "name": "甜品旗舰店",
        "qianniu_title": "改过的标题",
        "is_active": "on",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    assert client.post(own, data).status_code == 302
    world.shop.refresh_from_db()
    assert world.shop.qianniu_title == "改过的标题"
    foreign = reverse("admin:customer_service_shop_change", args=[world.other_shop.pk])
    assert client.get(foreign).status_code == 302  # "does not exist", back to the index
    assert client.post(foreign, {**data, "name": "数码专营店"}).status_code in (302, 403)
    world.other_shop.refresh_from_db()
    assert world.other_shop.qianniu_title != "改过的标题"


# Alerts: every member of a shop sees its alerts; only its admins see and change its channels; global alerts
# and channels are the superadmins'.
@pytest.fixture
def alert_world(world):
    from customer_service.models import AlertChannel, AlertEvent, AlertKind

    def event(shop, title):
        return AlertEvent.objects.create(shop=shop, kind=AlertKind.UNKNOWN_SEND, title=title)

    def channel(shop, name):
        return AlertChannel.objects.create(shop=shop, name=name, kind="email", recipients="ops@example.com")

    return {
        "event": event(world.shop, "甜品告警").pk, "other_event": event(world.other_shop, "数码告警").pk,
        "global_event": event(None, "全局告警").pk,
        "channel": channel(world.shop, "甜品渠道").pk, "other_channel": channel(world.other_shop, "数码渠道").pk,
        "global_channel": channel(None, "全局渠道").pk,
    }


ALERT_MATRIX = [
    ("get", "/api/alerts/{event}/", None, [200, 200, 200, 404, 401]),
    ("get", "/api/alerts/{other_event}/", None, [200, 404, 404, 200, 401]),
    ("get", "/api/alerts/{global_event}/", None, [200, 404, 404, 404, 401]),
    ("post", "/api/alerts/{event}/close", None, [200, 200, 403, 404, 401]),
    ("post", "/api/alerts/{global_event}/close", None, [200, 404, 404, 404, 401]),
    ("get", "/api/alert-channels/{channel}/", None, [200, 200, 404, 404, 401]),
    ("get", "/api/alert-channels/{global_channel}/", None, [200, 404, 404, 404, 401]),
    ("patch", "/api/alert-channels/{channel}/", {"name": "新名字"}, [200, 200, 404, 404, 401]),
    ("patch", "/api/alert-channels/{channel}/", {"shop": "{other_shop}"}, [200, 400, 404, 404, 401]),
    ("patch", "/api/alert-channels/{global_channel}/", {"name": "新名字"}, [200, 404, 404, 404, 401]),
    ("delete", "/api/alert-channels/{channel}/", None, [204, 204, 404, 404, 401]),
    ("post", "/api/alert-channels/{channel}/test", None, [200, 200, 404, 404, 401]),
    ("post", "/api/alert-channels/", {"shop": "{shop}", "name": "新渠道", "kind": "email",
                                      "recipients": "a@example.com"}, [201, 201, 403, 400, 401]),
    ("post", "/api/alert-channels/", {"shop": None, "name": "全局", "kind": "email",
                                      "recipients": "a@example.com"}, [201, 403, 403, 403, 401]),
    ("get", "/api/alert-deliveries/", None, [200, 200, 200, 200, 401]),
]


def fill_alerts(template, world, ids):
    if isinstance(template, str) and template.strip("{}") in ids:
        return ids[template.strip("{}")]
    if isinstance(template, str):
        return fill(template.format(**{**ids, "shop": world.shop.pk, "other_shop": world.other_shop.pk}), world)
    if isinstance(template, dict):
        return {k: fill_alerts(v, world, ids) for k, v in template.items()}
    return template


@pytest.mark.django_db
@pytest.mark.parametrize("method, path, body, statuses", ALERT_MATRIX, ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("role_index", range(len(ROLES)), ids=ROLES)
def test_alert_endpoint_matrix(world, alert_world, client_for, method, path, body, statuses, role_index):
    client = client_for(person(world, ROLES[role_index]))
    response = getattr(client, method)(fill_alerts(path, world, alert_world), fill_alerts(body, world, alert_world),
                                       format="json")
    assert response.status_code == statuses[role_index], response.content[:300]
    if response.status_code >= 400:
        assert set(response.json()) == {"error", "message", "detail"}


@pytest.mark.django_db
@pytest.mark.parametrize("role, events, channels", [
    ("superadmin", ["全局告警", "数码告警", "甜品告警"], ["全局渠道", "数码渠道", "甜品渠道"]),
    ("shop_admin", ["甜品告警"], ["甜品渠道"]),
    ("agent", ["甜品告警"], []),
    ("outsider", ["数码告警"], ["数码渠道"]),
])
def test_alert_lists_show_only_the_persons_shops(world, alert_world, client_for, role, events, channels):
    client = client_for(person(world, role))
    assert sorted(r["title"] for r in client.get("/api/alerts/").json()["results"]) == sorted(events)
    assert sorted(names(client.get("/api/alert-channels/"))) == sorted(channels)


# The review queue and reply templates: (method, path, body) → statuses for ROLES, on fresh rows each time.
REVIEW_MATRIX = [
    ("get", "/api/review/{item}/", None, [200, 200, 200, 404, 401]),
    ("post", "/api/review/{item}/approve", None, [200, 200, 200, 404, 401]),
    ("post", "/api/review/{item}/edit", {"text": "亲，有货～"}, [200, 200, 200, 404, 401]),
    ("post", "/api/review/{item}/reject", {"note": "不回"}, [200, 200, 200, 404, 401]),
    ("post", "/api/review/{item}/assign", {"user": "{agent}"}, [200, 200, 200, 404, 401]),
    ("get", "/api/reply-templates/{template}/", None, [200, 200, 200, 404, 401]),
    ("get", "/api/reply-templates/{shared_template}/", None, [200, 200, 200, 200, 401]),
    ("post", "/api/reply-templates/", {"shop": "{shop}", "code": "new", "text": "好的"}, [201, 201, 403, 400, 401]),
    ("post", "/api/reply-templates/", {"code": "new", "text": "好的"}, [201, 403, 403, 403, 401]),
    ("patch", "/api/reply-templates/{template}/", {"text": "改"}, [200, 200, 403, 404, 401]),
    ("patch", "/api/reply-templates/{shared_template}/", {"text": "改"}, [200, 403, 403, 403, 401]),
    ("delete", "/api/reply-templates/{template}/", None, [204, 204, 403, 404, 401]),
]


@pytest.mark.django_db
@pytest.mark.parametrize("method, path, body, statuses", REVIEW_MATRIX, ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("role_index", range(len(ROLES)), ids=ROLES)
def test_review_endpoint_matrix(world, client_for, method, path, body, statuses, role_index):
    from tests.configs.factories import shop_settings_template_ensure
    from tests.customer_service.factories import ReplyTemplateFactory, ReviewItemFactory

    shop_settings_template_ensure()
    rows = {"item": ReviewItemFactory(message__conversation__shop=world.shop).pk,
            "template": ReplyTemplateFactory(shop=world.shop).pk, "shared_template": ReplyTemplateFactory().pk}
    path = path.format(**rows, **{"shop": world.shop.pk})
    client = client_for(person(world, ROLES[role_index]))
    response = getattr(client, method)(path, fill(body, world), format="json")
    assert response.status_code == statuses[role_index], response.content[:300]
    if response.status_code >= 400:
        assert set(response.json()) == {"error", "message", "detail"}


# Knowledge suggestions: every member of a shop sees its suggestions; only its admins decide.
@pytest.fixture
def suggestion_ids(world):
    from customer_service.models import ReviewStatus
    from customer_service.suggestions.services import knowledge_suggestion_record
    from tests.customer_service.factories import MessageFactory, ReplyFactory, ReviewItemFactory

    def suggestion(shop, question):
        message = MessageFactory(conversation__shop=shop, content=question)
        item = ReviewItemFactory(message=message, shop=shop, status=ReviewStatus.EDITED, final_text="答案",
                                 draft=ReplyFactory(message=message, source="ai"))
        return knowledge_suggestion_record(item=item).pk

    return {"suggestion": suggestion(world.shop, "甜品问题"),
            "other_suggestion": suggestion(world.other_shop, "数码问题")}


SUGGESTION_MATRIX = [
    ("get", "/api/knowledge-suggestions/{suggestion}/", None, [200, 200, 200, 404, 401]),
    ("get", "/api/knowledge-suggestions/{other_suggestion}/", None, [200, 404, 404, 200, 401]),
    ("post", "/api/knowledge-suggestions/{suggestion}/accept", {"answer": "改过的答案"}, [200, 200, 403, 404, 401]),
    ("post", "/api/knowledge-suggestions/{suggestion}/dismiss", None, [200, 200, 403, 404, 401]),
    ("post", "/api/knowledge-suggestions/{other_suggestion}/dismiss", None, [200, 404, 404, 200, 401]),
]


@pytest.mark.django_db
@pytest.mark.parametrize("method, path, body, statuses", SUGGESTION_MATRIX,
                         ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("role_index", range(len(ROLES)), ids=ROLES)
def test_suggestion_endpoint_matrix(world, suggestion_ids, client_for, method, path, body, statuses, role_index):
    client = client_for(person(world, ROLES[role_index]))
    response = getattr(client, method)(path.format(**suggestion_ids), body, format="json")
    assert response.status_code == statuses[role_index], response.content[:300]
    if response.status_code >= 400:
        assert set(response.json()) == {"error", "message", "detail"}
