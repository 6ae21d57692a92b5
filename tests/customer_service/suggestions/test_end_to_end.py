"""Learning from review, end to end through the pipeline: buyers' lines come in through the messages API, the
process task sends them to review with an AI draft, an agent edits the draft, the edit suggests a knowledge
entry (the same question twice counts on one suggestion), a shop admin accepts it, and the next identical
question is answered by the knowledge base and queued in the outbox.

Tasks run eagerly (the test settings), as they do in the pipeline's own flow tests: POST → ``message_ingest``
→ ``pipeline.process_message`` → ``pipeline.draft_reply`` (the LLM answers from billing's loopback server) →
review; the review decision enqueues ``suggestions.record`` once committed. The data is committed so the
router's own thread sees it.
"""

import pytest

from configs import services as config_services
from customer_service.models import (
    KnowledgeSuggestion,
    Message,
    OutgoingReply,
    Reply,
    ReviewItem,
    SuggestionKind,
    SuggestionStatus,
)
from knowledge.models import KnowledgeItem
from tests.billing import conftest as billing_fixtures
from tests.configs.factories import shop_settings_template_ensure

pytestmark = pytest.mark.django_db(transaction=True)

_llm_server, fake_llm, llm_config = billing_fixtures._llm_server, billing_fixtures.fake_llm, billing_fixtures.llm_config
_clean_breakers = billing_fixtures._clean_breakers

QUESTION = "你们的蛋糕可以冷冻保存多久？"
DRAFT = "亲，蛋糕可以保存很久哦～"
ANSWER = "亲，冷冻可以保存一个月，解冻后当天吃完哦～"


@pytest.fixture
def shop(world):
    shop_settings_template_ensure()
    config_services.shop_settings_update(shop=world.shop, actor=world.shop_admin, values={"auto_mode": True})
    return world.shop


def buyer_asks(client, shop, buyer, text, external_id) -> Message:
    response = client.post("/api/messages/", {"shop": shop.pk, "buyer_id": buyer, "content": text,
                                              "external_id": external_id}, format="json")
    assert response.status_code == 201, response.content
    return Message.objects.get(pk=response.json()["id"])


def test_an_accepted_suggestion_answers_the_next_identical_question_from_the_knowledge_base(
        world, shop, client_for, llm_config, fake_llm):
    llm_config("gpt-a")
    fake_llm.behave("gpt-a", "ok", text=DRAFT)
    agent, shop_admin = client_for(world.agent), client_for(world.shop_admin)

    # Two buyers ask the same question (spaced and punctuated differently): nothing in the knowledge base
    # answers it, so each waits in review with an AI draft, and the agent corrects both drafts.
    for buyer, text, external_id in (("小明", QUESTION, "q-1"), ("小红", "你们的蛋糕 可以冷冻保存多久?", "q-2")):
        message = buyer_asks(agent, shop, buyer, text, external_id)
        assert (message.status, message.status_rule) == ("review", "kb.none")
        item = ReviewItem.objects.select_related("draft").get(message=message)
        assert (item.draft.source, item.draft.text) == ("ai", DRAFT)
        response = agent.post(f"/api/review/{item.pk}/edit/", {"text": ANSWER}, format="json")
        assert response.status_code == 200, response.content
        assert OutgoingReply.objects.get(pk=response.json()["outgoing_reply"]).text == ANSWER

    # The two corrections made one suggestion that counts both.
    suggestion = KnowledgeSuggestion.objects.get()
    assert (suggestion.kind, suggestion.status, suggestion.count) == (SuggestionKind.NEW_ITEM,
                                                                      SuggestionStatus.PENDING, 2)
    assert (suggestion.question, suggestion.answer) == (QUESTION, ANSWER)  # the first phrasing is kept
    assert not KnowledgeItem.objects.filter(shop=shop).exists()

    # The agent may not decide on it; the shop admin accepts it as it is.
    refused = agent.post(f"/api/knowledge-suggestions/{suggestion.pk}/accept/", {}, format="json")
    assert refused.status_code in (403, 404), refused.content
    accepted = shop_admin.post(f"/api/knowledge-suggestions/{suggestion.pk}/accept/", {}, format="json")
    assert accepted.status_code == 200, accepted.content
    entry = KnowledgeItem.objects.get(pk=accepted.json()["created_item"])
    assert (entry.shop_id, entry.question, entry.answer) == (shop.pk, QUESTION, ANSWER)

    # A third buyer asks the identical question: answered from the knowledge base with no one in between
    # and no LLM call, the reply queued in the outbox.
    llm_calls = fake_llm.calls["gpt-a"]
    message = buyer_asks(agent, shop, "小刚", QUESTION, "q-3")
    assert (message.status, message.status_rule) == ("answered", "kb.auto")
    reply = Reply.objects.get(message=message)
    assert (reply.source, reply.text, reply.knowledge_item_id) == ("kb", ANSWER, entry.pk)
    outgoing = OutgoingReply.objects.get(reply=reply)
    assert (outgoing.state, outgoing.text, outgoing.conversation_id) == ("queued", ANSWER, message.conversation_id)
    assert not ReviewItem.objects.filter(message=message).exists()
    assert fake_llm.calls["gpt-a"] == llm_calls
