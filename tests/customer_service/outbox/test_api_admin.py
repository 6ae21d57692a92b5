"""The outbox for external senders (API) and for people (admin): scoped by shop, claim once, receipt by the
claimer, cancel through the service."""

import pytest
from django.urls import reverse

from customer_service.models import MessageStatus, OutgoingReply, ReviewItem
from customer_service.outbox.services import outgoing_reply_claim, outgoing_reply_enqueue
from tests.configs.factories import shop_settings_template_ensure
from tests.customer_service.factories import MessageFactory, ReplyFactory

pytestmark = pytest.mark.django_db

ROLES = ["superadmin", "shop_admin", "agent", "outsider", "anonymous"]


def person(world, role):
    return None if role == "anonymous" else getattr(world, role)


def enqueue(shop, text):
    message = MessageFactory(conversation__shop=shop, status=MessageStatus.PROCESSING)
    outgoing = outgoing_reply_enqueue(reply=ReplyFactory(message=message, text=text))
    assert isinstance(outgoing, OutgoingReply)
    return outgoing


@pytest.fixture
def outbox(world):
    shop_settings_template_ensure()
    return {"own": enqueue(world.shop, "亲，XL有货的哦～"), "other": enqueue(world.other_shop, "亲，今天发货～")}


@pytest.mark.parametrize("role, expected", [("superadmin", ["亲，XL有货的哦～", "亲，今天发货～"]),
                                            ("shop_admin", ["亲，XL有货的哦～"]), ("agent", ["亲，XL有货的哦～"]),
                                            ("outsider", ["亲，今天发货～"])])
def test_the_queue_shows_the_persons_shops_only(world, client_for, outbox, role, expected, assert_documented):
    response = client_for(person(world, role)).get("/api/outbox/?state=queued")
    assert response.status_code == 200
    assert sorted(row["text"] for row in response.json()["results"]) == sorted(expected)
    assert_documented(response, "/api/outbox/")


def test_filters_by_shop_and_state_and_names_the_buyer(world, client_for, outbox):
    client = client_for(world.superadmin)
    rows = client.get(f"/api/outbox/?shop={world.shop.pk}&state=queued").json()["results"]
    assert [row["id"] for row in rows] == [outbox["own"].pk]
    assert rows[0]["buyer_id"] == outbox["own"].conversation.buyer_id
    assert rows[0]["shop_name"] == "甜品旗舰店"
    assert client.get("/api/outbox/?state=sending").json()["results"] == []
    assert client.get("/api/outbox/?state=gone").status_code == 400


# action → status for superadmin, shop_admin, agent, outsider, anonymous (on the first shop's row)
MATRIX = [
    ("get", "", None, [200, 200, 200, 404, 401]),
    ("post", "claim", None, [200, 200, 200, 404, 401]),
    ("post", "cancel", {}, [200, 200, 200, 404, 401]),
    ("post", "receipt", {"result": "confirmed"}, [409, 409, 409, 404, 401]),  # not claimed: nothing to receipt
]


@pytest.mark.parametrize("method, action, body, statuses", MATRIX, ids=[m[1] or "retrieve" for m in MATRIX])
@pytest.mark.parametrize("role_index", range(len(ROLES)), ids=ROLES)
def test_access_matrix(world, client_for, outbox, method, action, body, statuses, role_index):
    url = f"/api/outbox/{outbox['own'].pk}/{action}"
    response = getattr(client_for(person(world, ROLES[role_index])), method)(url, body, format="json")
    assert response.status_code == statuses[role_index], response.content[:300]
    if response.status_code >= 400:
        assert set(response.json()) == {"error", "message", "detail"}
    if response.status_code in (401, 404, 409):
        assert OutgoingReply.objects.get(pk=outbox["own"].pk).state == "queued"


def test_an_api_sender_claims_sends_and_confirms(world, client_for, outbox, assert_documented):
    client = client_for(world.agent)
    url = f"/api/outbox/{outbox['own'].pk}"
    claim = client.post(f"{url}/claim")
    assert claim.status_code == 200, claim.content
    assert_documented(claim, "/api/outbox/{id}/claim/", "post")
    body = claim.json()
    assert (body["state"], body["channel"], body["text"]) == ("sending", "api", "亲，XL有货的哦～")
    assert body["claimed_by"] == f"api:{world.agent.pk}:agent" and body["lease_until"]
    receipt = client.post(f"{url}/receipt", {"result": "confirmed"}, format="json")
    assert receipt.status_code == 200, receipt.content
    assert_documented(receipt, "/api/outbox/{id}/receipt/", "post")
    assert receipt.json()["state"] == "confirmed" and receipt.json()["finished_at"]


def test_the_second_claim_gets_a_409_that_says_why(world, client_for, outbox):
    url = f"/api/outbox/{outbox['own'].pk}/claim"
    assert client_for(world.agent).post(url).status_code == 200
    second = client_for(world.shop_admin).post(url)
    assert second.status_code == 409
    assert second.json()["error"] == "state_conflict" and "sending" in second.json()["message"]
    assert second.json()["detail"] == {"current": "sending"}


def test_only_the_account_that_claimed_gives_the_receipt(world, client_for, outbox):
    url = f"/api/outbox/{outbox['own'].pk}"
    client_for(world.agent).post(f"{url}/claim")
    other = client_for(world.shop_admin).post(f"{url}/receipt", {"result": "confirmed"}, format="json")
    assert other.status_code == 409 and other.json()["error"] == "not_claimer"
    assert OutgoingReply.objects.get(pk=outbox["own"].pk).state == "sending"


def test_a_desktop_claimed_reply_takes_no_receipt_through_the_api(world, client_for, outbox):
    outgoing_reply_claim(actor=None, outgoing=outbox["own"], channel="desktop", claimer="desktop-1")
    response = client_for(world.superadmin).post(f"/api/outbox/{outbox['own'].pk}/receipt",
                                                 {"result": "unknown"}, format="json")
    assert response.status_code == 409 and response.json()["error"] == "not_claimer"


def test_an_unknown_receipt_through_the_api_puts_the_message_in_review(world, client_for, outbox):
    client = client_for(world.agent)
    url = f"/api/outbox/{outbox['own'].pk}"
    client.post(f"{url}/claim")
    response = client.post(f"{url}/receipt", {"result": "unknown", "reason": "发送后页面崩溃"}, format="json")
    assert response.status_code == 200 and response.json()["receipt_reason"] == "发送后页面崩溃"
    assert ReviewItem.objects.get(message=outbox["own"].message).reason == "outbox.unknown"


@pytest.mark.parametrize("body, field", [
    ({"result": "sent"}, "result"),
    ({}, "result"),
    ({"result": "rejected"}, "reason"),
    ({"result": "rejected", "reason": "a\x01b"}, "reason"),
    ({"result": "unknown", "reason": "长" * 2001}, "reason"),
])
def test_bad_receipts_are_a_400_naming_the_field(world, client_for, outbox, body, field):
    client = client_for(world.agent)
    url = f"/api/outbox/{outbox['own'].pk}"
    client.post(f"{url}/claim")
    response = client.post(f"{url}/receipt", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["detail"]
    assert OutgoingReply.objects.get(pk=outbox["own"].pk).state == "sending"


def test_cancel_through_the_api_keeps_the_reason_and_reopens_review(world, client_for, outbox):
    response = client_for(world.agent).post(f"/api/outbox/{outbox['own'].pk}/cancel", {"reason": "我来回复"},
                                            format="json")
    assert response.status_code == 200 and response.json()["state"] == "cancelled"
    assert ReviewItem.objects.get(message=outbox["own"].message).reason == "outbox.cancelled"
    again = client_for(world.agent).post(f"/api/outbox/{outbox['own'].pk}/claim")
    assert again.status_code == 409


def test_the_browsable_api_renders_the_outbox(world, client, outbox):
    client.force_login(world.agent)
    page = client.get("/api/outbox/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200 and "亲，XL有货的哦～" in page.content.decode()


# -- admin ------------------------------------------------------------------------------------------------------

def test_the_admin_changelist_shows_the_persons_shops_with_filters(world, client, outbox):
    client.force_login(world.agent)
    url = reverse("admin:customer_service_outgoingreply_changelist")
    page = client.get(url).content.decode()
    assert "亲，XL有货的哦～" in page and "亲，今天发货～" not in page
    assert client.get(url, {"state__exact": "confirmed"}).status_code == 200
    assert "亲，XL有货的哦～" not in client.get(url, {"state__exact": "confirmed"}).content.decode()
    change = client.get(reverse("admin:customer_service_outgoingreply_change", args=[outbox["own"].pk]))
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
    assert client.get(reverse("admin:customer_service_outgoingreply_change",
                              args=[outbox["other"].pk])).status_code == 302  # not theirs: "does not exist"


def test_the_admin_cancel_action_goes_through_the_service(world, client, outbox):
    sending = enqueue(world.shop, "亲，包邮哦～")
    outgoing_reply_claim(actor=None, outgoing=sending, channel="desktop", claimer="desktop-1")
    client.force_login(world.agent)
    response = client.post(reverse("admin:customer_service_outgoingreply_changelist"), {
        "action": "cancel_selected", "_selected_action": [outbox["own"].pk, sending.pk, outbox["other"].pk],
    }, follow=True)
    assert response.status_code == 200
    text = response.content.decode()
    assert "1 reply cancelled." in text and "no longer queued" in text
    assert OutgoingReply.objects.get(pk=outbox["own"].pk).state == "cancelled"
    assert OutgoingReply.objects.get(pk=sending.pk).state == "sending"
    assert OutgoingReply.objects.get(pk=outbox["other"].pk).state == "queued"  # another shop's: untouched
    assert ReviewItem.objects.get(message=outbox["own"].message).reason == "outbox.cancelled"
