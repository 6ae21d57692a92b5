"""reply_draft: the LLM draft through billing's router, against real loopback provider servers.

The router runs in a thread of its own (the time budget), with its own database connection: these
tests commit their data (transactional database) so that thread sees it. The thread and its connection
are kept for the next draft.
"""

import importlib
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connection, connections, transaction
from django.db.backends.signals import connection_created
from django.utils import timezone

from billing.models import UsageRecord
from billing.services import budget_set
from configs import services as config_services
from configs.models import ConfigTemplate
from customer_service.models import MessageDirection
from customer_service.pipeline.drafting import (
    DEFAULT_PROMPTS,
    PROMPTS_TEMPLATE,
    _call_threads,
    reply_draft,
    reply_prompt_build,
)
from customer_service.review.services import review_item_open
from tests.billing import conftest as billing_fixtures
from tests.configs.factories import shop_settings_template_ensure
from tests.customer_service.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db(transaction=True)

# billing's loopback provider servers and the configs pointed at them
_llm_server, fake_llm, llm_config = billing_fixtures._llm_server, billing_fixtures.fake_llm, billing_fixtures.llm_config
_clean_breakers = billing_fixtures._clean_breakers

MIGRATION = "configs.migrations.0008_reply_prompts_template"
HITS = ({"item_id": 1, "question": "蛋糕能保存几天？", "answer": "冷藏条件下建议两天内吃完。", "confidence": 0.8},)


def prompts_template_ensure() -> ConfigTemplate:
    """The seeded ``reply_prompts`` template (a transactional test's flush removes seeded rows)."""
    if not ConfigTemplate.objects.filter(code=PROMPTS_TEMPLATE).exists():
        importlib.import_module(MIGRATION).seed(apps, None)
    return ConfigTemplate.objects.get(code=PROMPTS_TEMPLATE)


@pytest.fixture
def head(world):
    shop_settings_template_ensure()
    conversation = ConversationFactory(shop=world.shop, buyer_id="小明")
    return MessageFactory(conversation=conversation, content="有XL吗")


def configure(world, **values):
    config_services.shop_settings_update(shop=world.shop, actor=world.shop_admin, values=values)


def last_request(server):
    return server.requests[-1]["body"]["messages"]


# --- the prompt ----------------------------------------------------------------------------------------


def test_the_shipped_defaults_are_the_templates():
    assert importlib.import_module(MIGRATION).DEFAULTS == DEFAULT_PROMPTS
    template = prompts_template_ensure()
    assert {name: spec["default"] for name, spec in template.schema["properties"].items()} == DEFAULT_PROMPTS


def test_the_prompt_has_the_shops_name_and_tone_the_knowledge_and_the_conversation(world, head):
    conversation = head.conversation
    base = head.received_at
    MessageFactory(conversation=conversation, content="你好", received_at=base - timedelta(minutes=5),
                   direction=MessageDirection.SELLER)  # a seller line first: dropped, a chat starts with the buyer
    MessageFactory(conversation=conversation, content="这款蛋糕甜吗", received_at=base - timedelta(minutes=4))
    MessageFactory(conversation=conversation, content="亲，微甜的哦", received_at=base - timedelta(minutes=3),
                   direction=MessageDirection.SELLER)
    MessageFactory(conversation=conversation, content="好的", received_at=base - timedelta(minutes=2))
    MessageFactory(conversation=conversation, content="这款", received_at=base - timedelta(seconds=1),
                   burst_head=head)  # the burst's fragment: in the text, not the history
    MessageFactory(conversation=conversation, content="later", received_at=base + timedelta(minutes=1))
    MessageFactory(content="another buyer's", received_at=base - timedelta(minutes=1))

    messages = reply_prompt_build(message=head, text="这款，有XL吗", hits=HITS)

    system = messages[0]
    assert system["role"] == "system"
    assert f"“{world.shop.name}”" in system["content"] and DEFAULT_PROMPTS["tone"] in system["content"]
    assert "问：蛋糕能保存几天？\n答：冷藏条件下建议两天内吃完。" in system["content"]
    assert DEFAULT_PROMPTS["no_knowledge"] not in system["content"]
    assert messages[1:] == [
        {"role": "user", "content": "这款蛋糕甜吗"},
        {"role": "assistant", "content": "亲，微甜的哦"},
        {"role": "user", "content": "好的\n这款，有XL吗"},  # the burst, with the buyer's unanswered line before it
    ]


def test_without_knowledge_the_prompt_says_so(world, head):
    messages = reply_prompt_build(message=head, text="有XL吗")
    assert messages[0]["content"].endswith(DEFAULT_PROMPTS["no_knowledge"])
    assert messages[1:] == [{"role": "user", "content": "有XL吗"}]


def test_a_shop_edits_its_own_prompts_and_braces_stay_text(world, head):
    template = prompts_template_ensure()
    config_services.config_create(actor=world.shop_admin, template=template, shop=world.shop, values={
        "system_prompt": "你是{shop_name}的小助手{tone}，回复格式 {json} 不变。", "tone": "（活泼）",
        "knowledge_item": "Q:{question} A:{answer}", "history_lines": 0,
    })
    MessageFactory(conversation=head.conversation, content="早",
                   received_at=head.received_at - timedelta(minutes=1))
    messages = reply_prompt_build(message=head, text="有XL吗", hits=HITS)
    assert messages[0]["content"].startswith(f"你是{world.shop.name}的小助手（活泼），回复格式 {{json}} 不变。")
    assert "Q:蛋糕能保存几天？ A:冷藏条件下建议两天内吃完。" in messages[0]["content"]
    assert messages[1:] == [{"role": "user", "content": "有XL吗"}]  # no history
    # An edit is a new version of the shop's config, and the next draft reads it.
    config = ConfigTemplate.objects.get(code=PROMPTS_TEMPLATE).configs.get(shop=world.shop)
    version = config.version
    updated = config_services.config_update(config=config, actor=world.shop_admin, expected_version=version,
                                            values={**config.values, "system_prompt": "{shop_name}，现在是{now}"})
    assert updated.version == version + 1
    assert reply_prompt_build(message=head, text="x", now=datetime(2025, 3, 12, 6, tzinfo=UTC))[0]["content"] \
        .startswith(f"{world.shop.name}，现在是2025-03-12 14:00 周三")
    # The other shop keeps the shipped prompt.
    other = MessageFactory(conversation__shop=world.other_shop)
    assert reply_prompt_build(message=other, text="x")[0]["content"].startswith("你是淘宝/天猫店铺")


# --- the call --------------------------------------------------------------------------------------------


def test_a_draft_comes_from_the_shops_model_with_its_usage(world, head, llm_config, fake_llm):
    llm_config("gpt-a")
    fake_llm.behave("gpt-a", "ok", text="  亲，XL有货的哦～\x00 ")

    draft = reply_draft(message=head, text="有XL吗", hits=HITS)

    assert draft.text == "亲，XL有货的哦～\ufffd" and draft.error_rule == "" and draft.error == ""
    record = UsageRecord.objects.get()
    assert draft.usage_record_ids == (record.pk,)
    assert (record.message_ref, record.shop_id, record.status) == (head.pk, world.shop.pk, "success")
    sent = last_request(fake_llm)
    assert sent[0]["role"] == "system" and "蛋糕能保存几天？" in sent[0]["content"]
    assert sent[-1] == {"role": "user", "content": "有XL吗"}


def test_a_failing_provider_fails_over_and_every_attempt_is_linked(world, head, llm_config, fake_llm):
    llm_config("gpt-a", is_default=True)
    llm_config("gpt-b", priority=10)
    fake_llm.behave("gpt-a", "500")
    fake_llm.behave("gpt-b", "ok", text="亲，有的")

    draft = reply_draft(message=head, text="有XL吗")

    assert draft.text == "亲，有的"
    records = list(UsageRecord.objects.order_by("pk"))
    assert draft.usage_record_ids == tuple(r.pk for r in records)
    assert [r.status for r in records] == ["error", "success"]


def test_no_provider_configured_leaves_the_message_for_a_person(world, head):
    draft = reply_draft(message=head, text="有XL吗")
    assert (draft.text, draft.error_rule, draft.usage_record_ids) == ("", "llm.no_provider", ())
    assert draft.error == "No AI model is configured for drafts: a person answers."


def test_every_provider_down_goes_to_review_with_the_reason(world, head, llm_config, fake_llm):
    llm_config("gpt-a", is_default=True)
    llm_config("gpt-b", priority=10)
    fake_llm.behave("gpt-a", "500")
    fake_llm.behave("gpt-b", "drop")

    draft = reply_draft(message=head, text="有XL吗")

    assert (draft.text, draft.error_rule) == ("", "llm.failed")
    assert "gpt-a: server_error" in draft.error and "gpt-b:" in draft.error
    assert "key" not in draft.error.lower()  # the provider's quoted key never reaches people
    records = UsageRecord.objects.filter(message_ref=head.pk).order_by("pk")
    assert draft.usage_record_ids == tuple(records.values_list("pk", flat=True)) and len(records) == 2
    # What the process task then does: the message waits in review with the reason shown.
    head.status = "processing"
    head.save(update_fields=["status"])
    item = review_item_open(message=head, reason=draft.error_rule, reason_detail=draft.error)
    assert (item.reason, item.reason_detail) == ("llm.failed", draft.error)


def test_an_exhausted_budget_goes_to_review(world, head, llm_config, fake_llm):
    llm_config("gpt-a", per_1k_in="1", per_1k_out="1", max_tokens=20)
    budget_set(actor=world.superadmin, shop=world.shop, monthly_limit=Decimal("0.001"))

    draft = reply_draft(message=head, text="有XL吗")

    assert (draft.text, draft.error_rule, draft.usage_record_ids) == ("", "llm.budget_exhausted", ())
    assert draft.error.startswith("The AI budget is used up: ")
    assert fake_llm.calls["gpt-a"] == 0  # refused before any call


def test_an_empty_answer_is_no_draft(world, head, llm_config, fake_llm):
    llm_config("gpt-a")
    fake_llm.behave("gpt-a", "ok", text="  ")
    draft = reply_draft(message=head, text="有XL吗")
    assert (draft.text, draft.error_rule) == ("", "llm.failed")
    assert len(draft.usage_record_ids) == 1


def test_a_slow_provider_past_the_time_budget_goes_to_review_and_is_still_metered(world, head, llm_config,
                                                                                   fake_llm):
    configure(world, pipeline={"llm_time_budget_seconds": 5})  # the shortest a shop may set
    llm_config("gpt-a", timeout_seconds=30)
    fake_llm.behave("gpt-a", "slow", delay=7.0)

    started = time.monotonic()
    draft = reply_draft(message=head, text="有XL吗")
    waited = time.monotonic() - started

    assert (draft.text, draft.error_rule, draft.usage_record_ids) == ("", "llm.timeout", ())
    assert draft.error == "The AI model did not answer within 5 seconds."
    assert 5 <= waited < 7  # gave up at the budget, not at the provider's answer
    # The next draft does not wait behind the call still running: it gets a thread of its own.
    fake_llm.behave("gpt-a", "ok", text="亲，有的")
    started = time.monotonic()
    assert reply_draft(message=head, text="有XL吗").text == "亲，有的"
    assert time.monotonic() - started < 1.5  # the late call has about 2 s still to run
    # The call runs on and its answer is metered against the message, draft or not.
    deadline = time.monotonic() + 20
    while UsageRecord.objects.filter(message_ref=head.pk).count() < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert UsageRecord.objects.filter(message_ref=head.pk, status="success").count() == 2


def test_attempts_that_ended_within_the_budget_are_linked_to_the_late_draft(world, head, llm_config, fake_llm):
    configure(world, pipeline={"llm_time_budget_seconds": 5})
    llm_config("gpt-a", is_default=True)
    llm_config("gpt-b", priority=10, timeout_seconds=30)
    fake_llm.behave("gpt-a", "500")
    fake_llm.behave("gpt-b", "slow", delay=7.0)

    draft = reply_draft(message=head, text="有XL吗", now=timezone.now())

    assert draft.error_rule == "llm.timeout"
    failed = UsageRecord.objects.get(message_ref=head.pk, status="error")
    assert draft.usage_record_ids == (failed.pk,)
    deadline = time.monotonic() + 20
    while UsageRecord.objects.filter(message_ref=head.pk).count() < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert UsageRecord.objects.filter(message_ref=head.pk, status="success").count() == 1


def test_drafts_keep_their_threads_database_connection(world, head, llm_config, fake_llm, monkeypatch):
    """A thread per call opened a database connection per draft; kept threads reuse theirs (CONN_MAX_AGE)."""
    llm_config("gpt-a")
    fake_llm.behave("gpt-a", "ok", text="亲，有的")
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)  # the test settings close them
    opened = []

    def count(sender, connection, **kwargs):
        if threading.current_thread().name == "reply-draft":
            opened.append(connection.alias)

    connection_created.connect(count)
    try:
        drafts = [reply_draft(message=head, text="有XL吗").text for _ in range(3)]
    finally:
        connection_created.disconnect(count)
        closed = threading.Event()  # the kept connection would outlive the test database
        _call_threads.start(lambda: (connections.close_all(), closed.set()), name="reply-draft")
        closed.wait(10)
    assert drafts == ["亲，有的"] * 3
    assert UsageRecord.objects.filter(message_ref=head.pk, status="success").count() == 3
    assert opened == ["default"]


def test_it_refuses_to_wait_inside_a_transaction(world, head):
    with pytest.raises(RuntimeError), transaction.atomic():
        reply_draft(message=head, text="有XL吗")


def test_the_conversation_so_far_is_one_read(world, head):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from customer_service.pipeline.drafting import conversation_history

    MessageFactory(conversation=head.conversation, content="这款", received_at=head.received_at - timedelta(seconds=1),
                   burst_head=head)
    MessageFactory(conversation=head.conversation, content="好的", received_at=head.received_at - timedelta(minutes=1))
    with CaptureQueriesContext(connection) as queries:
        turns = conversation_history(message=head, lines=10)
    assert turns == [{"role": "user", "content": "好的"}]
    assert len(queries.captured_queries) == 1
