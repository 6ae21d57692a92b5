from datetime import timedelta

import pytest
from django.utils import timezone

from configs import services as config_services
from customer_service.models import MessageStatus, OutgoingReply, OutgoingState, ReviewItem
from customer_service.outbox.services import ReplyRefused, outgoing_last_texts, outgoing_reply_enqueue
from tests.configs.factories import shop_settings_template_ensure
from tests.customer_service.factories import MessageFactory, OutgoingReplyFactory, ReplyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def message(world):
    shop_settings_template_ensure()
    return MessageFactory(conversation__shop=world.shop, status=MessageStatus.PROCESSING)


def test_a_safe_reply_is_queued_and_answers_the_message_and_its_burst(message):
    fragment = MessageFactory(conversation=message.conversation, burst_head=message, status=MessageStatus.PROCESSING)
    reply = ReplyFactory(message=message, text="亲，XL有货的哦～", rule="kb.auto")

    outgoing = outgoing_reply_enqueue(reply=reply)

    assert isinstance(outgoing, OutgoingReply)
    assert (outgoing.state, outgoing.text, outgoing.conversation) == ("queued", reply.text, message.conversation)
    message.refresh_from_db()
    fragment.refresh_from_db()
    assert (message.status, message.status_rule, fragment.status) == ("answered", "kb.auto", "answered")
    assert message.answered_at is not None


@pytest.mark.parametrize(("text", "rule"), [
    ("加我微信 kefu888 详聊", "safety.contact.diversion"),
    ("我们是全网最低价", "safety.ad.superlative"),
])
def test_an_unsafe_automatic_reply_goes_to_review_with_the_rule_named(message, text, rule):
    reply = ReplyFactory(message=message, text=text)
    held = outgoing_reply_enqueue(reply=reply)
    assert isinstance(held, ReviewItem)
    assert (held.reason, held.draft) == (rule, reply)
    assert not OutgoingReply.objects.exists()
    message.refresh_from_db()
    assert message.status == "review"


def test_a_shops_forbidden_phrase_holds_a_reply(world, message):
    config_services.shop_settings_update(shop=world.shop, actor=world.shop_admin,
                                         values={"forbidden_phrases": ["清仓"]})
    held = outgoing_reply_enqueue(reply=ReplyFactory(message=message, text="清仓特价，欢迎选购"))
    assert held.reason == "safety.shop.forbidden_phrase"


def test_an_ai_claim_of_fact_needs_the_conversation_to_back_it(message):
    held = outgoing_reply_enqueue(reply=ReplyFactory(message=message, source="ai", text="您的订单已发货，请留意物流"))
    assert held.reason.startswith("safety.claim.")
    backed = MessageFactory(conversation=message.conversation, status=MessageStatus.PROCESSING,
                            content="我的订单已发货了吗？物流显示已发货")
    backed_reply = ReplyFactory(message=backed, source="ai", text="您的订单已发货，请留意物流")
    outgoing = outgoing_reply_enqueue(reply=backed_reply)
    assert isinstance(outgoing, OutgoingReply)


def test_a_persons_unsafe_reply_is_refused_and_nothing_changes(world, message):
    message.status = MessageStatus.REVIEW
    message.save()
    with pytest.raises(ReplyRefused) as refused:
        outgoing_reply_enqueue(reply=ReplyFactory(message=message, source="human", text="加我QQ 123456789"),
                               actor=world.agent)
    assert refused.value.code == "reply_unsafe"
    assert "contact.qq" in refused.value.detail["rules"]
    assert not OutgoingReply.objects.exists()
    assert not ReviewItem.objects.exists()


def test_the_same_text_twice_in_a_row_to_one_buyer_is_held(message):
    OutgoingReplyFactory(reply=ReplyFactory(message=message, text="亲，在的～"), state=OutgoingState.CONFIRMED)
    later = MessageFactory(conversation=message.conversation, status=MessageStatus.PROCESSING)
    held = outgoing_reply_enqueue(reply=ReplyFactory(message=later, text="亲，在的～ "))
    assert held.reason == "outbox.repeated_text"


def test_the_last_text_a_buyer_got_skips_replies_that_never_reached_them(world, message):
    start = timezone.now()
    order = iter(range(100))

    def sent(msg, text, state):
        OutgoingReplyFactory(reply=ReplyFactory(message=msg, text=text), state=state,
                             created_at=start + timedelta(seconds=next(order)))

    sent(message, "一", OutgoingState.CONFIRMED)
    sent(message, "二", OutgoingState.QUEUED)
    sent(message, "三", OutgoingState.CANCELLED)
    other = MessageFactory(shop=world.shop)
    sent(other, "四", OutgoingState.REJECTED)
    silent = MessageFactory(shop=world.shop).conversation_id
    ids = [message.conversation_id, other.conversation_id, silent]
    expected = {message.conversation_id: "二", other.conversation_id: None, silent: None}
    assert outgoing_last_texts(conversation_ids=ids) == expected
    # One conversation (a burst's) is read the simpler way: the same answers.
    assert {cid: outgoing_last_texts(conversation_ids=[cid])[cid] for cid in ids} == expected


def test_a_holding_reply_leaves_the_message_in_review(message):
    message.status = MessageStatus.REVIEW
    message.save()
    outgoing = outgoing_reply_enqueue(reply=ReplyFactory(message=message, source="template", text="亲，稍等～"),
                                      answers_message=False)
    assert outgoing.state == "queued"
    message.refresh_from_db()
    assert message.status == "review"
