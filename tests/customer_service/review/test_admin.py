from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from customer_service.models import OutgoingReply, ReplyTemplate
from tests.configs.factories import shop_settings_template_ensure
from tests.customer_service.factories import MessageFactory, ReplyTemplateFactory, ReviewItemFactory

pytestmark = pytest.mark.django_db

QUEUE = "admin:customer_service_reviewitem_changelist"


def page(item):
    return reverse("admin:customer_service_reviewitem_change", args=[item.pk])


@pytest.fixture
def item(world):
    shop_settings_template_ensure()
    return ReviewItemFactory(message__conversation__shop=world.shop, message__content="有XL吗",
                             draft__text="亲，XL有货的～", draft__confidence=0.71)


def test_the_queue_shows_pending_items_oldest_deadline_first_with_the_time_left(world, client, item):
    overdue = ReviewItemFactory(message__conversation__shop=world.shop, message__content="发什么快递",
                                deadline_at=timezone.now() - timedelta(seconds=30))
    ReviewItemFactory(message__conversation__shop=world.shop, message__content="已处理的", status="rejected")
    ReviewItemFactory(message__conversation__shop=world.other_shop, message__content="别家的")
    client.force_login(world.agent)
    body = client.get(reverse(QUEUE)).content.decode()
    assert body.index("发什么快递") < body.index("有XL吗")
    assert "已处理的" not in body and "别家的" not in body
    assert "overdue" in body or "超时" in body
    assert "已处理的" in client.get(reverse(QUEUE) + "?status=rejected").content.decode()
    assert overdue.pk


def test_the_item_page_shows_the_burst_conversation_faq_draft_and_templates(world, client, item):
    MessageFactory(conversation=item.message.conversation, content="在吗", burst_head=item.message)
    MessageFactory(conversation=item.message.conversation, content="在的亲", direction="seller")
    ReplyTemplateFactory(shop=world.shop, code="size", text="亲，身高体重发我一下～")
    client.force_login(world.agent)
    body = client.get(page(item)).content.decode()
    for text in ("在吗", "有XL吗", "在的亲", "亲，XL有货的～", "0.71", "size", "review.js", 'id="approve"'):
        assert text in body, text


def test_approving_from_the_page_queues_the_reply_and_returns_to_the_queue(world, client, item):
    client.force_login(world.agent)
    response = client.post(page(item), {"text": "亲，XL有货的～", "_action": "approve"})
    assert response.status_code == 302 and response["Location"] == reverse(QUEUE)
    item.refresh_from_db()
    assert item.status == "approved" and OutgoingReply.objects.get().text == "亲，XL有货的～"


def test_a_changed_text_is_an_edit(world, client, item):
    client.force_login(world.agent)
    client.post(page(item), {"text": "亲，XL今天有货～", "_action": "approve"})
    item.refresh_from_db()
    assert (item.status, item.final_text) == ("edited", "亲，XL今天有货～")


def test_a_second_persons_decision_shows_the_conflict_not_an_error_page(world, client, item):
    client.force_login(world.agent)
    client.post(page(item), {"text": "亲，XL有货的～", "_action": "approve"})
    client.force_login(world.shop_admin)
    response = client.post(page(item), {"text": "亲，另一个答复", "_action": "approve"})
    assert response.status_code == 409
    body = response.content.decode()
    assert "someone else changed it first" in body or "有人先处理了" in body
    assert 'id="decision"' in body and OutgoingReply.objects.count() == 1


def test_an_unsafe_text_is_refused_on_the_page_with_the_text_kept(world, client, item):
    client.force_login(world.agent)
    response = client.post(page(item), {"text": "加我微信 abc123 详聊", "_action": "approve"})
    assert response.status_code == 400
    assert "加我微信 abc123 详聊" in response.content.decode()
    item.refresh_from_db()
    assert item.status == "pending"


def test_reject_and_assign_from_the_page(world, client, item):
    client.force_login(world.agent)
    assert client.post(page(item), {"_action": "assign", "text": ""}).status_code == 200
    item.refresh_from_db()
    assert item.assigned_to == world.agent
    client.post(page(item), {"_action": "reject", "note": "买家已取消"})
    item.refresh_from_db()
    assert (item.status, item.note) == ("rejected", "买家已取消")


def test_another_shops_item_is_not_found(world, client, item):
    client.force_login(world.outsider)
    assert client.get(page(item)).status_code == 302
    assert client.post(page(item), {"_action": "approve", "text": "x"}).status_code == 302
    item.refresh_from_db()
    assert item.status == "pending"


def test_templates_in_the_admin_go_through_their_services(world, client):
    shared = ReplyTemplateFactory(code="hi-shared", text="您好")
    client.force_login(world.shop_admin)
    add = reverse("admin:customer_service_replytemplate_add")
    created = client.post(add, {"shop": world.shop.pk, "code": "sizes", "title": "尺码", "text": "亲，身高体重？",
                                "is_active": "on"})
    assert created.status_code == 302
    template = ReplyTemplate.objects.get(code="sizes")
    assert (template.shop, template.created_by) == (world.shop, world.shop_admin)
    refused = client.post(add, {"shop": "", "code": "shared-new", "text": "好", "is_active": "on"})
    assert refused.status_code == 200 and not ReplyTemplate.objects.filter(code="shared-new").exists()
    change = reverse("admin:customer_service_replytemplate_change", args=[shared.pk])
    client.post(change, {"shop": "", "code": "hi-shared", "text": "改了", "is_active": "on"})
    shared.refresh_from_db()
    assert shared.text == "您好"
    client.force_login(world.agent)
    assert client.get(add).status_code == 403
