import pytest

from customer_service.models import OutgoingReply, ReplyTemplate, ReviewItem
from tests.configs.factories import shop_settings_template_ensure
from tests.customer_service.factories import MessageFactory, ReplyTemplateFactory, ReviewItemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def items(world):
    shop_settings_template_ensure()
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    late = ReviewItemFactory(message__conversation__shop=world.shop, deadline_at=now + timedelta(seconds=20),
                             draft__text="亲，有货的～")
    early = ReviewItemFactory(message__conversation__shop=world.shop, deadline_at=now - timedelta(seconds=5))
    done = ReviewItemFactory(message__conversation__shop=world.shop, status="rejected")
    foreign = ReviewItemFactory(message__conversation__shop=world.other_shop)
    return {"late": late, "early": early, "done": done, "foreign": foreign}


def ids(response):
    return [row["id"] for row in response.json()["results"]]


def test_the_queue_lists_pending_items_of_the_persons_shops_oldest_deadline_first(world, client_for, items):
    response = client_for(world.agent).get("/api/review/")
    assert response.status_code == 200
    assert ids(response) == [items["early"].pk, items["late"].pk]
    row = response.json()["results"][1]
    assert row["draft"]["text"] == "亲，有货的～" and row["shop_name"] == "甜品旗舰店"
    assert 0 < row["seconds_left"] <= 20 and row["buyer_text"] == items["late"].message.content
    assert ids(client_for(world.agent).get("/api/review/?status=rejected")) == [items["done"].pk]
    assert ids(client_for(world.outsider).get("/api/review/")) == [items["foreign"].pk]
    assert len(ids(client_for(world.superadmin).get("/api/review/"))) == 3


def test_an_item_shows_the_burst_and_the_conversation_so_far(world, client_for, items):
    item = items["late"]
    earlier = MessageFactory(conversation=item.message.conversation, content="在吗", burst_head=item.message)
    seller = MessageFactory(conversation=item.message.conversation, content="在的亲", direction="seller")
    body = client_for(world.agent).get(f"/api/review/{item.pk}/").json()
    assert body["buyer_text"].splitlines() == ["在吗", item.message.content]
    assert {line["id"] for line in body["lines"]} == {earlier.pk, seller.pk, item.message.pk}
    assert client_for(world.outsider).get(f"/api/review/{item.pk}/").status_code == 404


def test_approve_queues_the_draft_and_a_second_approve_is_a_409(world, client_for, items):
    item = items["late"]
    response = client_for(world.agent).post(f"/api/review/{item.pk}/approve")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "approved" and body["message_status"] == "answered"
    assert OutgoingReply.objects.get(pk=body["outgoing_reply"]).text == "亲，有货的～"

    again = client_for(world.shop_admin).post(f"/api/review/{item.pk}/approve")
    assert again.status_code == 409
    assert again.json()["error"] == "state_conflict" and "someone else" in again.json()["message"]


def test_edit_reject_and_assign(world, client_for, items):
    client = client_for(world.agent)
    edited = client.post(f"/api/review/{items['late'].pk}/edit", {"text": "亲，XL有货～"}).json()
    assert (edited["status"], edited["final_text"]) == ("edited", "亲，XL有货～")
    assigned = client.post(f"/api/review/{items['early'].pk}/assign", {"user": world.shop_admin.pk})
    assert assigned.status_code == 200 and assigned.json()["assigned_to_username"] == "shopadmin"
    assert ids(client.get(f"/api/review/?assigned_to={world.shop_admin.pk}")) == [items["early"].pk]
    rejected = client.post(f"/api/review/{items['early'].pk}/reject", {"note": "重复咨询"}).json()
    assert (rejected["status"], rejected["note"], rejected["outgoing_reply"]) == ("rejected", "重复咨询", None)


def test_refusals_are_clear_errors_that_change_nothing(world, client_for, items):
    client = client_for(world.agent)
    item = items["late"]
    unsafe = client.post(f"/api/review/{item.pk}/edit", {"text": "加我微信 kefu888"})
    assert unsafe.status_code == 400 and unsafe.json()["error"] == "reply_unsafe"
    blank = client.post(f"/api/review/{item.pk}/edit", {"text": "  "})
    assert blank.status_code == 400 and "text" in blank.json()["detail"]
    stranger = client.post(f"/api/review/{item.pk}/assign", {"user": world.outsider.pk})
    assert stranger.status_code == 400  # someone the agent does not see is an id nobody has
    assert client.post(f"/api/review/{items['foreign'].pk}/approve").status_code == 404
    assert client_for(None).post(f"/api/review/{item.pk}/approve").status_code == 401
    item.refresh_from_db()
    assert item.status == "pending" and item.assigned_to is None
    assert not OutgoingReply.objects.exists()


def test_reply_templates_agents_read_shop_admins_write_their_own(world, client_for):
    shared = ReplyTemplateFactory(code="hello-shared", text="您好～")
    own = ReplyTemplateFactory(code="size", shop=world.shop, text="亲，身高体重发我一下～")
    ReplyTemplateFactory(code="other", shop=world.other_shop)
    agent, admin = client_for(world.agent), client_for(world.shop_admin)

    codes = sorted(row["code"] for row in agent.get("/api/reply-templates/").json()["results"])
    assert "hello-shared" in codes and "size" in codes and "other" not in codes
    assert agent.post("/api/reply-templates/", {"shop": world.shop.pk, "code": "x", "text": "好"}).status_code == 403
    assert agent.patch(f"/api/reply-templates/{own.pk}/", {"text": "改"}).status_code == 403

    created = admin.post("/api/reply-templates/", {"shop": world.shop.pk, "code": "thanks", "text": "谢谢亲～"})
    assert created.status_code == 201 and created.json()["created_by"] == world.shop_admin.pk
    assert admin.patch(f"/api/reply-templates/{own.pk}/", {"text": "亲，请发身高体重～"}).json()["text"] == \
        "亲，请发身高体重～"
    assert admin.patch(f"/api/reply-templates/{shared.pk}/", {"text": "改"}).status_code == 403
    assert admin.post("/api/reply-templates/", {"code": "shared2", "text": "好"}).status_code == 403
    duplicate = admin.post("/api/reply-templates/", {"shop": world.shop.pk, "code": "size", "text": "又一个"})
    assert duplicate.status_code == 400 and duplicate.json()["error"] == "validation_error"
    assert admin.post("/api/reply-templates/", {"shop": world.other_shop.pk, "code": "y", "text": "好"}
                      ).status_code == 400  # a shop they do not see is an id nobody has
    assert admin.delete(f"/api/reply-templates/{own.pk}/").status_code == 204
    root = client_for(world.superadmin)
    assert root.post("/api/reply-templates/", {"code": "see-you", "text": "再见～"}).status_code == 201
    assert ReplyTemplate.objects.filter(code="see-you", shop__isnull=True).exists()


def test_a_template_with_control_characters_is_refused(world, client_for):
    response = client_for(world.shop_admin).post("/api/reply-templates/",
                                                 {"shop": world.shop.pk, "code": "bad", "text": "坏\x07"})
    assert response.status_code == 400 and "text" in response.json()["detail"]


def test_the_queue_is_read_in_a_few_queries(world, client_for, items, django_assert_max_num_queries):
    for _ in range(10):
        item = ReviewItemFactory(message__conversation__shop=world.shop)
        MessageFactory(conversation=item.message.conversation, burst_head=item.message)
    with django_assert_max_num_queries(8):
        response = client_for(world.agent).get("/api/review/")
    assert len(response.json()["results"]) == ReviewItem.objects.filter(shop=world.shop, status="pending").count()
