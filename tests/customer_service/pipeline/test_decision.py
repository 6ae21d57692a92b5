"""message_decide: each rule of the decision, in its order, with the rule it records."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from configs import services as config_services
from customer_service.models import Conversation
from customer_service.pipeline.decision import BusinessHours, keyword_blacklist_hit, message_decide
from customer_service.pipeline.intents import INTENTS
from knowledge import services as knowledge_services
from knowledge.selectors import knowledge_search
from tests.configs.factories import shop_settings_template_ensure
from tests.customer_service.factories import MessageFactory

from .conftest import SHANGHAI, SHELF_LIFE, WEDNESDAY_AFTERNOON

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_indexes")]


@pytest.fixture
def faq(world):
    """Two items of the shop and one shared item."""
    shop_settings_template_ensure()
    make = knowledge_services.knowledge_item_create
    return {
        "shelf_life": make(actor=world.superadmin, shop=world.shop, question=SHELF_LIFE,
                           answer="冷藏条件下建议两天内吃完，口感最好。", keywords=["保存", "冷藏", "保质期"],
                           similar_questions=["保质期多久", "放冰箱能放几天"]),
        "writing": make(actor=world.superadmin, shop=world.shop, question="可以在蛋糕上写字吗？",
                        answer="可以免费写祝福语，下单时在备注里写上想写的字就行。", keywords=["写字", "祝福语"]),
        "courier": make(actor=world.superadmin, shop=None, question="发什么快递？",
                        answer="默认发中通快递，需要顺丰可以补运费差价哦。", keywords=["快递", "中通", "顺丰"]),
    }


def configure(world, **values):
    shop_settings_template_ensure()
    config_services.shop_settings_update(shop=world.shop, actor=world.shop_admin, values=values)


def decide(world, text, *, buyer="小明", now=WEDNESDAY_AFTERNOON, takeover_until=None):
    conversation, _ = Conversation.objects.update_or_create(shop=world.shop, buyer_id=buyer,
                                                            defaults={"takeover_until": takeover_until})
    message = MessageFactory(conversation=conversation, content=text)
    return message_decide(message=message, text=text, now=now)


def confidence_of(world, text):
    return knowledge_search(shop=world.shop, text=text, k=1)[0].confidence


# --- knowledge thresholds and auto mode -------------------------------------------------------------


def test_a_confident_answer_is_sent_in_auto_mode(world, faq):
    c = confidence_of(world, SHELF_LIFE)
    configure(world, auto_mode=True, auto_send_threshold=c, draft_threshold=min(c, 0.6))
    decision = decide(world, SHELF_LIFE)
    assert (decision.action, decision.rule) == ("send", "kb.auto")
    assert decision.reply_text == faq["shelf_life"].answer and decision.reply_source == "kb"
    assert decision.knowledge_item_id == faq["shelf_life"].pk and decision.confidence == c
    assert decision.matched_phrasing and decision.away_message == ""


def test_just_below_the_auto_threshold_it_is_a_draft_with_the_hits(world, faq):
    c = confidence_of(world, SHELF_LIFE)
    configure(world, auto_mode=True, auto_send_threshold=min(c + 0.001, 1), draft_threshold=c)
    decision = decide(world, SHELF_LIFE)
    assert (decision.action, decision.rule) == ("draft", "kb.draft")
    assert decision.hits[0]["item_id"] == faq["shelf_life"].pk
    assert decision.hits[0]["answer"] == faq["shelf_life"].answer and decision.hits[0]["confidence"] == c
    assert all(hit["confidence"] >= c for hit in decision.hits)
    assert decision.reply_text == ""


def test_without_auto_mode_a_confident_answer_is_only_a_draft(world, faq):
    c = confidence_of(world, SHELF_LIFE)
    configure(world, auto_mode=False, auto_send_threshold=c, draft_threshold=c)
    decision = decide(world, SHELF_LIFE)
    assert (decision.action, decision.rule) == ("draft", "kb.draft")
    assert decision.hits and decision.hits[0]["item_id"] == faq["shelf_life"].pk


def test_below_the_draft_threshold_the_draft_has_no_knowledge(world, faq):
    c = confidence_of(world, SHELF_LIFE)
    configure(world, auto_mode=True, auto_send_threshold=min(c + 0.002, 1), draft_threshold=min(c + 0.001, 1))
    decision = decide(world, SHELF_LIFE)
    assert (decision.action, decision.rule, decision.hits) == ("draft", "kb.none", ())
    assert decision.confidence == c  # the best match is still recorded


def test_a_shop_without_knowledge_drafts_without_it(world):
    configure(world, auto_mode=True)
    decision = decide(world, "这款有XL吗？")
    assert (decision.action, decision.rule, decision.hits, decision.confidence) == ("draft", "kb.none", (), None)


def test_a_greeting_is_never_sent_from_the_knowledge_base(world, faq):
    configure(world, auto_mode=True)  # the shipped thresholds 0.9 / 0.6
    decision = decide(world, "亲在吗")
    assert decision.action == "draft" and decision.rule == "kb.none"


# --- blacklists and whitelists -----------------------------------------------------------------------


def test_a_blacklisted_buyer_is_ignored_before_anything_else(world, faq):
    c = confidence_of(world, SHELF_LIFE)
    configure(world, auto_mode=True, auto_send_threshold=c, buyer_blacklist=["Spammer01"],
              buyer_whitelist=["spammer01"], business_hours={"enabled": True, "start": "00:00", "end": "00:01"},
              pipeline={"away_message": "下班啦"})
    decision = decide(world, SHELF_LIFE + "我要退款", buyer=" spammer01 ")
    assert (decision.action, decision.rule, decision.away_message) == ("ignore", "blacklist.buyer", "")
    assert "spammer01" in decision.reason


def test_a_blacklisted_keyword_sends_the_message_to_review(world, faq):
    c = confidence_of(world, SHELF_LIFE)
    configure(world, auto_mode=True, auto_send_threshold=c, keyword_blacklist=["代购", "批*价"])
    decision = decide(world, SHELF_LIFE + "能代购吗")
    assert (decision.action, decision.rule) == ("review", "blacklist.keyword")
    assert "代购" in decision.reason
    assert decide(world, "你们批发什么价").rule == "blacklist.keyword"
    assert decide(world, "代 购可以吗").rule == "blacklist.keyword"  # spaced out, still caught
    assert decide(world, SHELF_LIFE).rule == "kb.auto"


def test_a_whitelisted_buyer_skips_the_keyword_blacklist_but_not_the_handoff_intents(world, faq):
    c = confidence_of(world, SHELF_LIFE)
    configure(world, auto_mode=True, auto_send_threshold=c, keyword_blacklist=["保存"], buyer_whitelist=["老客户"])
    assert decide(world, SHELF_LIFE, buyer="路人").rule == "blacklist.keyword"
    assert decide(world, SHELF_LIFE, buyer="老客户").rule == "kb.auto"
    assert decide(world, "我要退款", buyer="老客户").rule == "intent.refund"


def test_a_whitelisted_phrase_exempts_only_the_blacklisted_keyword_inside_it():
    assert keyword_blacklist_hit("会退色吗", blacklist=["退"], whitelist=["退色"]) is None
    assert keyword_blacklist_hit("退色了，要退钱", blacklist=["退"], whitelist=["退色"]) == "退"
    assert keyword_blacklist_hit("会退色吗", blacklist=["退"]) == "退"
    assert keyword_blacklist_hit("随便问问", blacklist=["*", " "]) is None  # nothing to match: never everything


# --- handoff intents ---------------------------------------------------------------------------------

INTENT_EXAMPLES = {
    "complaint": "再不处理我就投诉你们",
    "emotion": "你们就是骗子",
    "human": "转人工",
    "refund": "蛋糕坏了能退款吗",
    "order_change": "我想改一下收货地址",
    "media": "[图片]",
}


def test_every_intent_has_an_example():
    assert set(INTENT_EXAMPLES) == set(INTENTS)


@pytest.mark.parametrize(("intent", "text"), INTENT_EXAMPLES.items())
def test_a_handoff_intent_goes_to_a_person_whatever_the_knowledge_base_says(world, faq, intent, text):
    c = confidence_of(world, SHELF_LIFE)
    configure(world, auto_mode=True, auto_send_threshold=c, draft_threshold=c)
    decision = decide(world, f"{SHELF_LIFE}{text}")
    assert (decision.action, decision.rule) == ("review", f"intent.{intent}")
    assert decision.reason


def test_an_intent_the_shop_switched_off_is_answered(world, faq):
    c = confidence_of(world, "蛋糕能保存几天？[图片]")
    configure(world, auto_mode=True, auto_send_threshold=c, handoff={"disabled_intents": ["media"]})
    assert decide(world, "蛋糕能保存几天？[图片]").rule == "kb.auto"


def test_the_most_urgent_intent_decides(world):
    assert decide(world, "不给退款我就投诉").rule == "intent.complaint"


# --- human takeover ----------------------------------------------------------------------------------


def test_a_conversation_taken_over_by_a_person_gets_drafts_only(world, faq):
    c = confidence_of(world, SHELF_LIFE)
    configure(world, auto_mode=True, auto_send_threshold=c, draft_threshold=c)
    decision = decide(world, SHELF_LIFE, takeover_until=WEDNESDAY_AFTERNOON + timedelta(minutes=5))
    assert (decision.action, decision.rule) == ("draft", "takeover")
    assert decision.hits[0]["item_id"] == faq["shelf_life"].pk  # the draft still has the knowledge
    assert decision.reply_text == ""


def test_a_takeover_that_ended_no_longer_holds_the_answer(world, faq):
    c = confidence_of(world, SHELF_LIFE)
    configure(world, auto_mode=True, auto_send_threshold=c)
    decision = decide(world, SHELF_LIFE, takeover_until=WEDNESDAY_AFTERNOON - timedelta(seconds=1))
    assert decision.rule == "kb.auto"


def test_a_handoff_intent_in_a_taken_over_conversation_is_still_the_intent(world):
    decision = decide(world, "我要退款", takeover_until=WEDNESDAY_AFTERNOON + timedelta(minutes=5))
    assert decision.rule == "intent.refund"


# --- business hours and the away message --------------------------------------------------------------

NINE_TO_SIX_WEEKDAYS = {"enabled": True, "start": "09:00", "end": "18:00", "days": [1, 2, 3, 4, 5]}


def at(day, hour, minute=0):
    return datetime(2025, 3, day, hour, minute, tzinfo=SHANGHAI)  # 2025-03-10 is a Monday


@pytest.mark.parametrize(("when", "open_"), [
    (at(12, 9, 0), True), (at(12, 17, 59), True), (at(12, 18, 0), False), (at(12, 8, 59), False),
    (at(15, 12, 0), False),  # Saturday
    (at(12, 1, 0).astimezone(ZoneInfo("UTC")), False),  # 17:00 UTC the day before is 01:00 here
    (datetime(2025, 3, 12, 2, 0, tzinfo=ZoneInfo("UTC")), True),  # 10:00 in Shanghai
])
def test_business_hours_are_read_in_shanghai_time(when, open_):
    assert BusinessHours(enabled=True, start="09:00", end="18:00", days=frozenset({1, 2, 3, 4, 5})).is_open(when) \
        is open_


def test_hours_past_midnight_and_the_whole_day():
    night = BusinessHours(enabled=True, start="20:00", end="02:00", days=frozenset({5}))  # Friday night
    assert night.is_open(at(14, 21)) and night.is_open(at(15, 1, 59))
    assert not night.is_open(at(15, 2)) and not night.is_open(at(14, 1))  # Friday 01:00 belongs to Thursday
    assert BusinessHours(enabled=True, start="00:00", end="24:00", days=frozenset({3})).is_open(at(12, 23, 59))
    assert BusinessHours(enabled=True, start="08:00", end="08:00", days=frozenset({3})).is_open(at(13, 7, 59))
    assert BusinessHours(enabled=False, days=frozenset()).is_open(at(15, 3))


def test_the_closed_period_starts_at_the_last_closing_time():
    hours = BusinessHours(enabled=True, start="09:00", end="18:00", days=frozenset({1, 2, 3, 4, 5}))
    assert hours.closed_since(at(12, 12)) is None
    assert hours.closed_since(at(12, 20)) == at(12, 18)
    assert hours.closed_since(at(13, 3)) == at(12, 18)
    assert hours.closed_since(at(16, 10)) == at(14, 18)  # Sunday: since Friday evening
    never = BusinessHours(enabled=True, days=frozenset())
    assert never.closed_since(at(12, 12)) == at(4, 0)  # never open: a week and a day back


def test_after_hours_the_knowledge_answer_waits_as_a_draft_with_the_away_message(world, faq):
    c = confidence_of(world, SHELF_LIFE)
    configure(world, auto_mode=True, auto_send_threshold=c, draft_threshold=c, business_hours=NINE_TO_SIX_WEEKDAYS,
              pipeline={"away_message": "亲，客服下班啦，明早9点回复您～"})
    decision = decide(world, SHELF_LIFE, now=at(12, 20))
    assert (decision.action, decision.rule) == ("draft", "after_hours")
    assert decision.hits[0]["item_id"] == faq["shelf_life"].pk
    assert decision.away_message == "亲，客服下班啦，明早9点回复您～"
    # In business hours the same message is answered, without an away message.
    decision = decide(world, SHELF_LIFE, now=at(13, 10))
    assert (decision.rule, decision.away_message) == ("kb.auto", "")


def test_after_hours_knowledge_answers_are_sent_when_the_shop_allows(world, faq):
    c = confidence_of(world, SHELF_LIFE)
    configure(world, auto_mode=True, auto_send_threshold=c, business_hours=NINE_TO_SIX_WEEKDAYS,
              pipeline={"after_hours_knowledge_answers": True, "away_message": "下班啦"})
    decision = decide(world, SHELF_LIFE, now=at(15, 12))
    assert (decision.action, decision.rule, decision.away_message) == ("send", "kb.auto", "")
    # What the knowledge base cannot answer still waits, with the away message.
    decision = decide(world, "这款有XL吗？", now=at(15, 12))
    assert (decision.action, decision.rule, decision.away_message) == ("draft", "after_hours", "下班啦")


def test_the_away_message_goes_once_per_conversation_per_closed_period(world):
    configure(world, business_hours=NINE_TO_SIX_WEEKDAYS, pipeline={"away_message": "下班啦"})
    message = MessageFactory(conversation__shop=world.shop, content="在吗")
    conversation = message.conversation
    assert message_decide(message=message, text="在吗", now=at(12, 19)).away_message == "下班啦"
    conversation.away_sent_at = at(12, 19)  # the caller records it when it sends it
    assert message_decide(message=message, text="在吗", now=at(12, 23)).away_message == ""
    assert message_decide(message=message, text="在吗", now=at(13, 8, 59)).away_message == ""
    assert message_decide(message=message, text="在吗", now=at(13, 12)).away_message == ""  # open again
    assert message_decide(message=message, text="在吗", now=at(13, 18, 1)).away_message == "下班啦"  # a new period


def test_the_away_message_goes_with_a_handoff_but_not_to_a_blacklisted_buyer_or_a_taken_over_chat(world):
    configure(world, business_hours=NINE_TO_SIX_WEEKDAYS, pipeline={"away_message": "下班啦"},
              buyer_blacklist=["黑名单"], keyword_blacklist=["代购"])
    night = at(12, 22)
    assert decide(world, "我要退款", now=night).away_message == "下班啦"
    assert decide(world, "能代购吗", now=night).away_message == "下班啦"
    assert decide(world, "在吗", buyer="黑名单", now=night).away_message == ""
    taken = decide(world, "在吗", now=night, takeover_until=night + timedelta(minutes=10))
    assert (taken.rule, taken.away_message) == ("takeover", "")


def test_no_away_message_when_none_is_set(world):
    configure(world, business_hours=NINE_TO_SIX_WEEKDAYS)
    decision = decide(world, "在吗", now=at(12, 22))
    assert (decision.rule, decision.away_message) == ("after_hours", "")


def test_a_shop_never_configured_answers_around_the_clock_in_review(world, faq):
    shop_settings_template_ensure()
    decision = decide(world, SHELF_LIFE, now=timezone.now())
    assert decision.action == "draft" and decision.rule in {"kb.draft", "kb.none"}  # auto mode is off by default


def test_the_decision_writes_nothing(world, faq):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    configure(world, auto_mode=True, business_hours=NINE_TO_SIX_WEEKDAYS, pipeline={"away_message": "下班啦"})
    message = MessageFactory(conversation__shop=world.shop, content=SHELF_LIFE)
    with CaptureQueriesContext(connection) as queries:
        message_decide(message=message, text=SHELF_LIFE, now=at(12, 22))
    writes = [q["sql"] for q in queries if q["sql"].lstrip().split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}]
    assert queries.captured_queries and writes == []


def test_the_reason_is_in_the_workers_language(world):
    from django.utils import translation

    configure(world, keyword_blacklist=["代购"])
    with translation.override("zh-hans"):
        assert decide(world, "能代购吗").reason == "消息含有黑名单关键词“代购”。"
        assert decide(world, "退款").reason == "退款、退货或换货：“退款”。"
