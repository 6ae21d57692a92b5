"""A buyer's message from ingest to review when the decision is a draft: the draft with its usage, or the
reason there is none (every provider down, budget used up, the time budget passed) shown with the item.

Tasks run eagerly (the test settings): ingest → process → decision → the ``llm`` task → review. The LLM
answers from billing's loopback server; the data is committed so the router's own thread sees it.
"""

import time
from decimal import Decimal

import pytest

from billing.models import UsageRecord
from billing.services import budget_set
from configs import services as config_services
from customer_service.models import Message, ReviewItem
from customer_service.pipeline.services import message_ingest
from tests.billing import conftest as billing_fixtures
from tests.configs.factories import shop_settings_template_ensure

pytestmark = pytest.mark.django_db(transaction=True)

_llm_server, fake_llm, llm_config = billing_fixtures._llm_server, billing_fixtures.fake_llm, billing_fixtures.llm_config
_clean_breakers = billing_fixtures._clean_breakers


@pytest.fixture
def shop(world):
    shop_settings_template_ensure()
    return world.shop


def ingest(shop, text="这款有XL吗？", external_id="m-1"):
    message, created = message_ingest(shop=shop, buyer_id="小明", content=text, external_id=external_id)
    assert created
    message.refresh_from_db()
    return message


def review_item_of(message):
    return ReviewItem.objects.select_related("draft").get(message=message)


def test_a_question_the_knowledge_base_cannot_answer_waits_in_review_with_an_ai_draft(shop, llm_config, fake_llm):
    llm_config("gpt-a")
    fake_llm.behave("gpt-a", "ok", text="亲，XL有货的哦～")

    message = ingest(shop)

    item = review_item_of(message)
    assert (message.status, message.status_rule, item.reason) == ("review", "kb.none", "kb.none")
    assert (item.draft.source, item.draft.text) == ("ai", "亲，XL有货的哦～")
    usage = UsageRecord.objects.get(message_ref=message.pk)
    assert list(item.draft.usage_records.all()) == [usage]


def test_every_provider_down_sends_the_message_to_review_with_the_reason(shop, llm_config, fake_llm):
    llm_config("gpt-a", is_default=True)
    llm_config("gpt-b", priority=10)
    fake_llm.behave("gpt-a", "500")
    fake_llm.behave("gpt-b", "500")

    message = ingest(shop)

    item = review_item_of(message)
    assert (message.status, item.reason, item.draft) == ("review", "llm.failed", None)
    assert "gpt-a: server_error" in item.reason_detail and "gpt-b: server_error" in item.reason_detail
    assert UsageRecord.objects.filter(message_ref=message.pk, status="error").count() == 2


def test_no_provider_configured_sends_the_message_to_review(shop):
    message = ingest(shop)
    item = review_item_of(message)
    assert (message.status, item.reason, item.draft) == ("review", "llm.no_provider", None)
    assert item.reason_detail == "No AI model is configured for drafts: a person answers."


def test_an_exhausted_budget_sends_the_message_to_review(world, shop, llm_config, fake_llm):
    llm_config("gpt-a", per_1k_in="1", per_1k_out="1", max_tokens=20)
    budget_set(actor=world.superadmin, shop=shop, monthly_limit=Decimal("0.001"))

    message = ingest(shop)

    item = review_item_of(message)
    assert (message.status, item.reason, item.draft) == ("review", "llm.budget_exhausted", None)
    assert fake_llm.calls["gpt-a"] == 0


def test_a_slow_provider_past_the_time_budget_sends_the_message_to_review(world, shop, llm_config, fake_llm):
    config_services.shop_settings_update(shop=shop, actor=world.shop_admin,
                                         values={"pipeline": {"llm_time_budget_seconds": 5}})
    llm_config("gpt-a", timeout_seconds=30)
    fake_llm.behave("gpt-a", "slow", delay=7.0)

    message = ingest(shop)

    item = review_item_of(message)
    assert (message.status, item.reason, item.draft) == ("review", "llm.timeout", None)
    assert item.reason_detail == "The AI model did not answer within 5 seconds."
    deadline = time.monotonic() + 20  # the late answer is still metered against the message
    while not UsageRecord.objects.filter(message_ref=message.pk).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert UsageRecord.objects.get(message_ref=message.pk).status == "success"
    assert Message.objects.get(pk=message.pk).status == "review"  # and changes nothing
