"""POST/GET /api/messages/ and GET /api/conversations/: idempotent ingest, shop scoping, filters."""

from datetime import timedelta

import pytest
from django.utils import timezone

from customer_service.models import Conversation, Message
from tests.configs.factories import shop_settings_template_ensure
from tests.customer_service.factories import ConversationFactory, MessageFactory
from tests.test_access_matrix import ROLES, fill, person

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings_template(db):
    shop_settings_template_ensure()


def line(shop, **extra):
    return {"shop": shop, "buyer_id": "小明", "content": "这款有XL吗？", "external_id": "q-1", **extra}


# (method, path, body) → status for superadmin, shop_admin, agent, outsider, anonymous
MATRIX = [
    ("post", "/api/messages/", line("{shop}"), [201, 201, 201, 400, 401]),
    ("post", "/api/messages/", line("{other_shop}"), [201, 400, 400, 201, 401]),
    ("get", "/api/messages/{message}/", None, [200, 200, 200, 404, 401]),
    ("patch", "/api/messages/{message}/", {"content": "改"}, [405, 405, 405, 405, 401]),
    ("delete", "/api/messages/{message}/", None, [405, 405, 405, 405, 401]),
    ("get", "/api/conversations/{conversation}/", None, [200, 200, 200, 404, 401]),
    ("post", "/api/conversations/", {"shop": "{shop}", "buyer_id": "x"}, [405, 405, 405, 405, 401]),
]


@pytest.mark.parametrize("method, path, body, statuses", MATRIX, ids=lambda v: v if isinstance(v, str) else "")
@pytest.mark.parametrize("role_index", range(len(ROLES)), ids=ROLES)
def test_endpoint_matrix(world, client_for, method, path, body, statuses, role_index):
    message = MessageFactory(conversation__shop=world.shop)
    client = client_for(person(world, ROLES[role_index]))
    url = fill(path.replace("{message}", str(message.pk)).replace("{conversation}", str(message.conversation_id)),
               world)
    response = getattr(client, method)(url, fill(body, world), format="json")
    assert response.status_code == statuses[role_index], response.content[:300]
    if response.status_code >= 400:
        assert set(response.json()) == {"error", "message", "detail"}


def test_a_new_line_is_201_and_the_same_external_id_again_200_with_the_first_row(world, client_for, assert_documented):
    client = client_for(world.agent)
    first = client.post("/api/messages/", line(world.shop.pk), format="json")
    assert first.status_code == 201, first.content
    assert_documented(first, "/api/messages/", "post")
    body = first.json()
    assert (body["status"], body["direction"], body["buyer_id"], body["source"]) == ("new", "buyer", "小明", "api")
    again = client.post("/api/messages/", line(world.shop.pk, content="别的内容"), format="json")
    assert again.status_code == 200
    assert again.json() == body
    assert Message.objects.count() == 1


def test_a_seller_line_through_the_api_takes_the_conversation_over(world, client_for):
    client = client_for(world.agent)
    response = client.post("/api/messages/", line(world.shop.pk, direction="seller", content="我来回答您"),
                           format="json")
    assert response.status_code == 201
    assert response.json()["status_rule"] == "seller.takeover"
    conversation = client.get(f"/api/conversations/{response.json()['conversation']}/").json()
    assert conversation["takeover_until"] is not None
    assert Conversation.objects.get(pk=conversation["id"]).taken_over()


@pytest.mark.parametrize("body, field", [
    ({"content": ""}, "content"),
    ({"content": "控制\x07字符"}, "content"),
    ({"buyer_id": ""}, "buyer_id"),
    ({"external_id": "x" * 192}, "external_id"),
    ({"direction": "sideways"}, "direction"),
    ({"source": "qianniu"}, "source"),
    ({"sent_at": "yesterday"}, "sent_at"),
    ({"shop": 999_999}, "shop"),
])
def test_bad_lines_are_a_400_naming_the_field(world, client_for, body, field):
    response = client_for(world.agent).post("/api/messages/", {**line(world.shop.pk), **body}, format="json")
    assert response.status_code == 400, response.content
    payload = response.json()
    assert payload["error"] == "validation_error" and field in payload["detail"]
    assert not Message.objects.exists()


def test_lists_are_scoped_to_the_persons_shops(world, client_for):
    mine = MessageFactory(conversation__shop=world.shop)
    MessageFactory(conversation__shop=world.other_shop)
    rows = client_for(world.agent).get("/api/messages/").json()["results"]
    assert [row["id"] for row in rows] == [mine.pk]
    conversations = client_for(world.agent).get("/api/conversations/").json()["results"]
    assert [row["id"] for row in conversations] == [mine.conversation_id]
    assert len(client_for(world.superadmin).get("/api/messages/").json()["results"]) == 2


def test_messages_filter_by_status_direction_conversation_and_received_range(world, client_for):
    conversation = ConversationFactory(shop=world.shop)
    now = timezone.now()
    old = MessageFactory(conversation=conversation, received_at=now - timedelta(days=2), status="answered")
    new = MessageFactory(conversation=conversation, received_at=now)
    seller = MessageFactory(conversation=conversation, direction="seller", status="ignored", received_at=now)
    other = MessageFactory(conversation__shop=world.shop)
    client = client_for(world.agent)

    def ids(query):
        response = client.get(f"/api/messages/?{query}")
        assert response.status_code == 200, response.content
        return sorted(row["id"] for row in response.json()["results"])

    assert ids("status=answered") == [old.pk]
    assert ids("direction=seller") == [seller.pk]
    assert ids(f"conversation={conversation.pk}") == sorted([old.pk, new.pk, seller.pk])
    since = (now - timedelta(days=1)).isoformat()
    assert ids(f"conversation={conversation.pk}&received_after={since}".replace("+", "%2B")) == sorted(
        [new.pk, seller.pk])
    assert ids(f"received_before={since}".replace("+", "%2B")) == [old.pk]
    assert ids(f"shop={world.shop.pk}&status=new") == sorted([new.pk, other.pk])
    assert client.get(f"/api/messages/?shop={world.other_shop.pk}").status_code == 400  # not one of theirs
    assert client.get("/api/messages/?status=sideways").status_code == 400
