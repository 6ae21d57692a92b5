import threading

import pytest
from django.db import connection
from django.utils import timezone

from customer_service.models import (
    MessageStatus,
    OutgoingReply,
    Reply,
    ReplySource,
    ReviewItem,
    ReviewStatus,
    TransitionRefused,
)
from customer_service.outbox.services import ReplyRefused
from customer_service.review.decisions import (
    review_item_approve,
    review_item_assign,
    review_item_edit,
    review_item_reject,
)
from kefu.exceptions import KefuError, PermissionDenied
from tests.configs.factories import shop_settings_template_ensure
from tests.customer_service.factories import MessageFactory, ReviewItemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def item(world):
    shop_settings_template_ensure()
    return ReviewItemFactory(message__conversation__shop=world.shop, draft__text="亲，XL有货的哦～",
                             draft__confidence=0.72)


def test_an_approved_draft_is_queued_as_it_is_and_answers_the_message(world, item):
    fragment = MessageFactory(conversation=item.message.conversation, burst_head=item.message,
                              status=MessageStatus.REVIEW)

    outcome = review_item_approve(actor=world.agent, item=item)

    assert (outcome.item.status, outcome.item.reviewer, outcome.item.final_text) == (
        "approved", world.agent, "亲，XL有货的哦～")
    reply = outcome.outgoing.reply
    assert (reply.source, reply.text, reply.confidence, reply.rule, reply.created_by) == (
        ReplySource.HUMAN, "亲，XL有货的哦～", 0.72, "review.approved", world.agent)
    assert (outcome.outgoing.state, outcome.outgoing.text) == ("queued", "亲，XL有货的哦～")
    item.message.refresh_from_db()
    fragment.refresh_from_db()
    assert (item.message.status, item.message.handled_by, fragment.status) == ("answered", world.agent, "answered")
    item.message.conversation.refresh_from_db()
    assert item.message.conversation.takeover_until is None  # approving kefu's draft is not a takeover


def test_an_edited_reply_is_the_persons_and_starts_the_takeover(world, item):
    outcome = review_item_edit(actor=world.agent, item=item, text="  亲，XL有货，今天下单明天发～ ")

    assert (outcome.item.status, outcome.item.final_text) == ("edited", "亲，XL有货，今天下单明天发～")
    assert (outcome.outgoing.reply.source, outcome.outgoing.text) == (ReplySource.HUMAN, "亲，XL有货，今天下单明天发～")
    conversation = item.message.conversation
    conversation.refresh_from_db()
    assert conversation.taken_over()
    minutes = (conversation.takeover_until - timezone.now()).total_seconds() / 60
    assert 59 < minutes <= 60


def test_the_drafts_own_text_sent_through_edit_counts_as_an_approval(world, item):
    outcome = review_item_edit(actor=world.agent, item=item, text="亲，XL有货的哦～")
    assert outcome.item.status == "approved" and outcome.outgoing.reply.rule == "review.approved"


def test_an_item_without_a_draft_is_answered_by_an_edit_not_an_approval(world, item):
    item.draft = None
    item.save()
    with pytest.raises(KefuError) as refused:
        review_item_approve(actor=world.agent, item=item)
    assert refused.value.code == "no_draft"
    assert review_item_edit(actor=world.agent, item=item, text="亲，在的～").item.status == "edited"


@pytest.mark.parametrize("text", ["", "   ", "坏\x00字符", "长" * 5001])
def test_a_bad_text_is_refused_and_changes_nothing(world, item, text):
    with pytest.raises(KefuError) as refused:
        review_item_edit(actor=world.agent, item=item, text=text)
    assert refused.value.status_code == 400 and "text" in refused.value.detail
    item.refresh_from_db()
    assert item.status == "pending" and not OutgoingReply.objects.exists()


def test_an_unsafe_edit_is_refused_and_the_item_stays_pending(world, item):
    with pytest.raises(ReplyRefused) as refused:
        review_item_edit(actor=world.agent, item=item, text="加我微信 kefu888 详聊")
    assert refused.value.code == "reply_unsafe" and "contact" in refused.value.detail["rules"][0]
    item.refresh_from_db()
    item.message.refresh_from_db()
    assert (item.status, item.reviewer, item.final_text, item.message.status) == ("pending", None, "", "review")
    assert not OutgoingReply.objects.exists() and Reply.objects.count() == 1  # only the draft
    item.message.conversation.refresh_from_db()
    assert item.message.conversation.takeover_until is None


def test_a_person_approving_an_ai_claim_vouches_for_it_but_every_other_rule_holds(world, item):
    item.draft.text = "亲，已经为您发货了～"
    item.draft.save()
    assert review_item_approve(actor=world.agent, item=item).outgoing.text == "亲，已经为您发货了～"
    other = ReviewItemFactory(message__conversation__shop=world.shop, draft__text="亲，全网最低价，放心拍～")
    with pytest.raises(ReplyRefused) as refused:
        review_item_approve(actor=world.agent, item=other)
    assert refused.value.detail["rules"] == ["ad.superlative"]


def test_the_same_text_as_the_last_reply_is_refused_for_a_person(world, item):
    first = review_item_edit(actor=world.agent, item=item, text="亲，在的～")
    second = ReviewItemFactory(message__conversation=item.message.conversation, draft__text="亲，在的～")
    with pytest.raises(ReplyRefused) as refused:
        review_item_approve(actor=world.agent, item=second)
    assert refused.value.code == "reply_repeated"
    assert first.outgoing.state == "queued"


def test_the_second_person_to_decide_gets_a_conflict(world, item):
    review_item_approve(actor=world.agent, item=item)
    for action in (lambda: review_item_approve(actor=world.shop_admin, item=item),
                   lambda: review_item_edit(actor=world.shop_admin, item=item, text="亲，另一个答复"),
                   lambda: review_item_reject(actor=world.shop_admin, item=item, note="不回"),
                   lambda: review_item_assign(actor=world.shop_admin, item=item, user=world.shop_admin)):
        with pytest.raises(TransitionRefused) as refused:
            action()
        assert refused.value.status_code == 409 and "approved" in refused.value.message
    assert OutgoingReply.objects.count() == 1


def test_a_reject_keeps_the_note_sends_nothing_and_ignores_the_message_and_its_burst(world, item):
    fragment = MessageFactory(conversation=item.message.conversation, burst_head=item.message,
                              status=MessageStatus.REVIEW)
    outcome = review_item_reject(actor=world.agent, item=item, note="买家已在电话里解决")
    assert (outcome.item.status, outcome.item.note, outcome.item.reviewer) == (
        "rejected", "买家已在电话里解决", world.agent)
    assert outcome.outgoing is None and not OutgoingReply.objects.exists()
    item.message.refresh_from_db()
    fragment.refresh_from_db()
    assert (item.message.status, item.message.status_rule, fragment.status) == (
        "ignored", "review.rejected", "ignored")


def test_nobody_outside_the_shop_decides(world, item):
    for action in (lambda: review_item_approve(actor=world.outsider, item=item),
                   lambda: review_item_edit(actor=world.outsider, item=item, text="你好"),
                   lambda: review_item_reject(actor=world.outsider, item=item),
                   lambda: review_item_assign(actor=world.outsider, item=item, user=world.outsider)):
        with pytest.raises(PermissionDenied):
            action()
    item.refresh_from_db()
    assert item.status == "pending" and item.assigned_to is None
    assert review_item_approve(actor=world.superadmin, item=item).item.status == "approved"


def test_an_item_is_assigned_to_people_of_its_shop_only(world, item):
    assert review_item_assign(actor=world.agent, item=item, user=world.agent).assigned_to == world.agent
    assert review_item_assign(actor=world.agent, item=item, user=world.shop_admin).assigned_to == world.shop_admin
    with pytest.raises(KefuError) as refused:
        review_item_assign(actor=world.shop_admin, item=item, user=world.outsider)
    assert refused.value.code == "not_a_member"
    assert review_item_assign(actor=world.agent, item=item, user=None).assigned_to is None


@pytest.mark.django_db(transaction=True)
def test_two_people_approving_at_once_send_one_reply(world):
    shop_settings_template_ensure()
    item = ReviewItemFactory(message__conversation__shop=world.shop, draft__text="亲，有货～")
    barrier, results = threading.Barrier(2), []

    def approve(person):
        try:
            barrier.wait()
            results.append(review_item_approve(actor=person, item=ReviewItem.objects.get(pk=item.pk)).item.reviewer)
        except TransitionRefused as exc:
            results.append(exc.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(p,)) for p in (world.agent, world.shop_admin)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=str) == sorted([409, ReviewItem.objects.get(pk=item.pk).reviewer], key=str)
    assert OutgoingReply.objects.count() == 1 and Reply.objects.filter(source="human").count() == 1
    assert ReviewItem.objects.get(pk=item.pk).status == ReviewStatus.APPROVED


def test_an_edited_ai_draft_suggests_a_knowledge_entry_once_committed(world, item, django_capture_on_commit_callbacks):
    from customer_service.models import KnowledgeSuggestion

    with django_capture_on_commit_callbacks(execute=True):
        review_item_edit(actor=world.agent, item=item, text="亲，XL有货，身高175建议拍XL～")
    suggestion = KnowledgeSuggestion.objects.get()
    assert (suggestion.answer, suggestion.review_item_id) == ("亲，XL有货，身高175建议拍XL～", item.pk)


def test_a_rejected_item_suggests_nothing_until_its_decision_commits(world, item, django_capture_on_commit_callbacks):
    from customer_service.models import KnowledgeSuggestion

    item.draft.source = ReplySource.KB
    item.draft.save()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        review_item_reject(actor=world.agent, item=item, note="答非所问")
    assert not KnowledgeSuggestion.objects.exists() and len(callbacks) == 1
    callbacks[0]()
    assert KnowledgeSuggestion.objects.get().kind == "new_item"
