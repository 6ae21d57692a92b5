"""Review outcomes suggest knowledge changes; an accepted one answers the same buyer question from the
knowledge base on the next message."""

import pytest

from configs import services as config_services
from customer_service.models import KnowledgeSuggestion, ReplySource, ReviewStatus, SuggestionKind, SuggestionStatus
from customer_service.pipeline.decision import message_decide
from customer_service.suggestions.services import (
    knowledge_suggestion_accept,
    knowledge_suggestion_dismiss,
    knowledge_suggestion_record,
)
from kefu.exceptions import KefuError, PermissionDenied
from knowledge.services import knowledge_item_create
from tests.customer_service.factories import MessageFactory, ReplyFactory, ReviewItemFactory

pytestmark = pytest.mark.django_db

QUESTION = "你们的蛋糕可以冷冻保存多久？"
ANSWER = "亲，冷冻可以保存一个月哦～"


def reviewed(shop, *, status, source=ReplySource.AI, final_text="", content=QUESTION, knowledge_item=None):
    message = MessageFactory(conversation__shop=shop, content=content)
    draft = ReplyFactory(message=message, source=source, text="草稿", knowledge_item=knowledge_item)
    return ReviewItemFactory(message=message, shop=shop, draft=draft, status=status, final_text=final_text)


def test_an_edited_ai_draft_suggests_a_new_entry_and_the_same_phrasing_counts(world):
    first = knowledge_suggestion_record(item=reviewed(world.shop, status=ReviewStatus.EDITED, final_text=ANSWER))
    assert first.kind == SuggestionKind.NEW_ITEM and first.question == QUESTION and first.answer == ANSWER
    # The same question, spaced and punctuated differently, in Traditional characters: one suggestion.
    again = knowledge_suggestion_record(item=reviewed(world.shop, status=ReviewStatus.EDITED, final_text=ANSWER,
                                                      content="你們的蛋糕 可以冷凍保存多久?"))
    assert again.pk == first.pk and KnowledgeSuggestion.objects.get().count == 2


def test_outcomes_that_teach_nothing_suggest_nothing(world):
    assert knowledge_suggestion_record(item=reviewed(world.shop, status=ReviewStatus.APPROVED)) is None
    assert knowledge_suggestion_record(item=reviewed(world.shop, status=ReviewStatus.REJECTED)) is None
    assert knowledge_suggestion_record(item=reviewed(world.shop, status=ReviewStatus.PENDING)) is None
    assert not KnowledgeSuggestion.objects.exists()


def test_a_rejected_knowledge_answer_suggests_an_entry_whose_answer_the_admin_writes(world):
    suggestion = knowledge_suggestion_record(item=reviewed(world.shop, status=ReviewStatus.REJECTED,
                                                           source=ReplySource.KB))
    assert suggestion.kind == SuggestionKind.NEW_ITEM and suggestion.answer == ""
    with pytest.raises(KefuError, match="answer"):
        knowledge_suggestion_accept(actor=world.shop_admin, suggestion=suggestion)
    accepted = knowledge_suggestion_accept(actor=world.shop_admin, suggestion=suggestion, answer=ANSWER)
    assert accepted.status == SuggestionStatus.ACCEPTED and accepted.created_item.answer == ANSWER


def test_an_answer_that_is_another_entrys_suggests_the_phrasing_as_its_similar_question(world):
    entry = knowledge_item_create(actor=world.shop_admin, shop=world.shop, question="蛋糕能放多久？", answer=ANSWER)
    suggestion = knowledge_suggestion_record(item=reviewed(world.shop, status=ReviewStatus.EDITED, final_text=ANSWER))
    assert suggestion.kind == SuggestionKind.SIMILAR_QUESTION and suggestion.knowledge_item == entry
    knowledge_suggestion_accept(actor=world.shop_admin, suggestion=suggestion)
    entry.refresh_from_db()
    assert entry.similar_texts() == [QUESTION]


def test_only_the_shops_admin_decides_and_only_once(world):
    suggestion = knowledge_suggestion_record(item=reviewed(world.shop, status=ReviewStatus.EDITED, final_text=ANSWER))
    for person in (world.agent, world.outsider):
        with pytest.raises(PermissionDenied):
            knowledge_suggestion_dismiss(actor=person, suggestion=suggestion)
    knowledge_suggestion_dismiss(actor=world.shop_admin, suggestion=suggestion)
    with pytest.raises(KefuError) as refused:
        knowledge_suggestion_accept(actor=world.shop_admin, suggestion=suggestion)
    assert refused.value.status_code == 409
    # Dismissed: the same phrasing later starts a new suggestion.
    again = knowledge_suggestion_record(item=reviewed(world.shop, status=ReviewStatus.EDITED, final_text=ANSWER))
    assert again.pk != suggestion.pk and again.status == SuggestionStatus.PENDING


def test_an_accepted_suggestion_answers_the_next_identical_question_from_the_knowledge_base(
        world, django_capture_on_commit_callbacks):
    config_services.shop_settings_update(shop=world.shop, actor=world.shop_admin, values={"auto_mode": True})
    before = message_decide(message=MessageFactory(conversation__shop=world.shop, content=QUESTION), text=QUESTION)
    assert before.action != "send"
    suggestion = knowledge_suggestion_record(item=reviewed(world.shop, status=ReviewStatus.EDITED, final_text=ANSWER))
    with django_capture_on_commit_callbacks(execute=True):  # the entry's vectors are built on commit
        knowledge_suggestion_accept(actor=world.shop_admin, suggestion=suggestion)
    after = message_decide(message=MessageFactory(conversation__shop=world.shop, content=QUESTION), text=QUESTION)
    assert after.action == "send" and after.rule == "kb.auto" and after.reply_text == ANSWER


def test_the_task_records_what_a_committed_outcome_suggests(world):
    from customer_service.suggestions.tasks import knowledge_suggestion_record_task

    item = reviewed(world.shop, status=ReviewStatus.EDITED, final_text=ANSWER)
    suggestion_id = knowledge_suggestion_record_task.delay(item.pk).get()
    assert KnowledgeSuggestion.objects.get(pk=suggestion_id).answer == ANSWER
    assert knowledge_suggestion_record_task.delay(999_999).get() is None


def test_review_decisions_record_their_suggestions_once_committed(world, django_capture_on_commit_callbacks):
    from customer_service.review.decisions import review_item_edit, review_item_reject
    from tests.configs.factories import shop_settings_template_ensure

    shop_settings_template_ensure()
    edited = reviewed(world.shop, status=ReviewStatus.PENDING)
    edited.message.status = "review"
    edited.message.save()
    with django_capture_on_commit_callbacks(execute=True):
        review_item_edit(actor=world.agent, item=edited, text=ANSWER)
    suggestion = KnowledgeSuggestion.objects.get()
    assert suggestion.kind == SuggestionKind.NEW_ITEM and suggestion.answer == ANSWER

    rejected = reviewed(world.shop, status=ReviewStatus.PENDING, source=ReplySource.KB, content="能开发票吗？")
    rejected.message.status = "review"
    rejected.message.save()
    with django_capture_on_commit_callbacks(execute=True):
        review_item_reject(actor=world.agent, item=rejected, note="答案不对")
    assert KnowledgeSuggestion.objects.filter(question="能开发票吗？", answer="").exists()
