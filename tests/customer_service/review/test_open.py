from datetime import timedelta

import pytest
from django.utils import timezone

from configs import services as config_services
from customer_service.models import MessageStatus, ReviewItem, ReviewStatus
from customer_service.review.services import review_item_open
from tests.configs.factories import shop_settings_template_ensure
from tests.customer_service.factories import MessageFactory, ReplyFactory

pytestmark = pytest.mark.django_db


def test_a_message_in_review_waits_with_a_deadline_from_the_bursts_first_line(world):
    shop_settings_template_ensure()
    config_services.shop_settings_update(shop=world.shop, actor=world.shop_admin,
                                         values={"review": {"deadline_seconds": 120}})
    first_at = timezone.now() - timedelta(seconds=30)
    head = MessageFactory(conversation__shop=world.shop, status=MessageStatus.PROCESSING)
    fragment = MessageFactory(conversation=head.conversation, received_at=first_at, burst_head=head,
                              status=MessageStatus.PROCESSING)
    draft = ReplyFactory(message=head, source="ai")

    item = review_item_open(message=head, reason="kb.low_confidence", draft=draft)

    assert item.status == ReviewStatus.PENDING and item.draft == draft and item.shop == world.shop
    assert item.deadline_at == first_at + timedelta(seconds=120)
    head.refresh_from_db()
    fragment.refresh_from_db()
    assert (head.status, head.status_rule, fragment.status) == ("review", "kb.low_confidence", "review")


def test_a_second_reason_for_a_pending_message_keeps_one_item_and_its_deadline(world):
    message = MessageFactory(conversation__shop=world.shop, status=MessageStatus.PROCESSING)
    first = review_item_open(message=message, reason="intent.refund")
    second = review_item_open(message=message, reason="safety.contact.wechat", reason_detail="微信")
    assert second.pk == first.pk
    assert ReviewItem.objects.filter(message=message).count() == 1
    assert (second.reason, second.deadline_at) == ("safety.contact.wechat", first.deadline_at)


def test_a_burst_reopened_with_a_later_line_keeps_the_holding_reply_already_sent(world):
    from customer_service.models import MESSAGE_STATES, Message

    first = MessageFactory(conversation__shop=world.shop, status=MessageStatus.PROCESSING)
    old_item = review_item_open(message=first, reason="kb.none")
    sent_at = timezone.now()
    ReviewItem.objects.filter(pk=old_item.pk).update(holding_sent_at=sent_at, status=ReviewStatus.EXPIRED)
    later = MessageFactory(conversation=first.conversation, status=MessageStatus.PROCESSING)
    Message.objects.filter(pk=first.pk).update(burst_head=later)
    MESSAGE_STATES.transition(Message, pk=first.pk, old=MessageStatus.REVIEW, new=MessageStatus.PROCESSING)

    item = review_item_open(message=later, reason="kb.none")

    assert item.pk != old_item.pk
    assert item.holding_sent_at == sent_at
    assert item.deadline_at == old_item.deadline_at


def test_opening_an_item_reads_the_burst_and_the_pending_items_in_one_statement(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    message = MessageFactory(conversation__shop=world.shop, status=MessageStatus.PROCESSING)
    with CaptureQueriesContext(connection) as queries:
        review_item_open(message=message, reason="kb.none", fragments=False)
    reads = [q["sql"] for q in queries.captured_queries
             if q["sql"].startswith("SELECT") and '"customer_service_reviewitem"' in q["sql"]]
    assert len(reads) == 1
    assert ReviewItem.objects.filter(message=message, status=ReviewStatus.PENDING).count() == 1
