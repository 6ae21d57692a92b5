"""Claim, receipt, cancel and the lease sweeper: one reply is sent at most once, ever, and a reply whose fate
is unknown goes to a person instead of being sent again."""

import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from customer_service.models import (
    AlertEvent,
    AlertKind,
    MessageStatus,
    OutgoingReply,
    OutgoingState,
    ReviewItem,
    ReviewStatus,
    TransitionRefused,
)
from customer_service.outbox.services import (
    outgoing_reply_cancel,
    outgoing_reply_claim,
    outgoing_reply_enqueue,
    outgoing_reply_expire_leases,
    outgoing_reply_receipt,
)
from customer_service.review.services import review_item_open
from kefu.exceptions import Conflict, KefuError, PermissionDenied
from tests.configs.factories import shop_settings_template_ensure
from tests.customer_service.factories import MessageFactory, ReplyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(world):
    """A knowledge answer queued for its buyer: the message (and its burst fragment) answered."""
    shop_settings_template_ensure()
    message = MessageFactory(conversation__shop=world.shop, status=MessageStatus.PROCESSING)
    MessageFactory(conversation=message.conversation, burst_head=message, status=MessageStatus.PROCESSING)
    outgoing = outgoing_reply_enqueue(reply=ReplyFactory(message=message, text="亲，XL有货的哦～", rule="kb.auto"))
    assert isinstance(outgoing, OutgoingReply)
    return outgoing


def claimed(outgoing, actor=None, claimer="desktop-1", channel="desktop"):
    return outgoing_reply_claim(actor=actor, outgoing=outgoing, channel=channel, claimer=claimer)


def statuses(outgoing):
    return sorted(outgoing.message.conversation.messages.values_list("status", flat=True))


def test_a_claim_takes_a_queued_reply_with_a_lease(queued, world, settings):
    settings.KEFU_OUTBOX_SEND_LEASE_SECONDS = 90
    before = timezone.now()
    row = claimed(queued, actor=world.agent, claimer="api:agent", channel="api")
    assert (row.state, row.channel, row.claimed_by) == ("sending", "api", "api:agent")
    assert before <= row.claimed_at <= timezone.now()
    assert row.lease_until == row.claimed_at + timedelta(seconds=90)


def test_a_second_claim_is_refused_and_changes_nothing(queued):
    first = claimed(queued, claimer="desktop-1")
    with pytest.raises(TransitionRefused) as refused:
        claimed(queued, claimer="desktop-2")
    assert refused.value.status_code == 409
    assert OutgoingReply.objects.get(pk=queued.pk).claimed_by == "desktop-1"
    assert OutgoingReply.objects.get(pk=queued.pk).claimed_at == first.claimed_at


@pytest.mark.parametrize("state", ["confirmed", "unknown", "rejected", "cancelled"])
def test_a_finished_reply_can_never_be_claimed_again(queued, state):
    if state == "cancelled":
        outgoing_reply_cancel(actor=None, outgoing=queued)
    else:
        claimed(queued)
        outgoing_reply_receipt(actor=None, outgoing=queued, result=state, reason="窗口未找到")
    with pytest.raises(TransitionRefused):
        claimed(queued, claimer="desktop-2")
    assert OutgoingReply.objects.get(pk=queued.pk).state == state


def test_a_confirmed_receipt_finishes_the_send(queued):
    claimed(queued)
    row = outgoing_reply_receipt(actor=None, outgoing=queued, result="confirmed")
    assert (row.state, row.lease_until) == ("confirmed", None)
    assert row.finished_at is not None
    assert statuses(row) == ["answered", "answered"]
    assert not ReviewItem.objects.exists()


def test_an_unknown_receipt_hands_the_message_to_a_person_and_raises_an_alert(queued):
    claimed(queued)
    row = outgoing_reply_receipt(actor=None, outgoing=queued, result="unknown", reason="回读超时")
    assert row.state == "unknown"
    item = ReviewItem.objects.get(message=row.message, status=ReviewStatus.PENDING)
    assert (item.reason, item.reason_detail, item.draft) == ("outbox.unknown", "回读超时", row.reply)
    assert statuses(row) == ["review", "review"]
    event = AlertEvent.objects.get(kind=AlertKind.UNKNOWN_SEND, shop=row.shop)
    assert event.key == "desktop" and event.resolved_at is None
    assert event.detail["outgoing_reply"] == row.pk


def test_unknown_is_final_the_sweeper_and_the_queue_never_see_it_again(queued):
    claimed(queued)
    outgoing_reply_receipt(actor=None, outgoing=queued, result="unknown")
    assert not OutgoingReply.objects.filter(state=OutgoingState.QUEUED).exists()
    assert outgoing_reply_expire_leases(now=timezone.now() + timedelta(days=1)) == 0
    assert OutgoingReply.objects.get(pk=queued.pk).state == "unknown"


def test_a_later_confirmed_send_on_the_channel_resolves_the_alert(queued, world):
    claimed(queued)
    outgoing_reply_receipt(actor=None, outgoing=queued, result="unknown")
    later = MessageFactory(conversation__shop=world.shop, status=MessageStatus.PROCESSING)
    next_row = outgoing_reply_enqueue(reply=ReplyFactory(message=later, text="亲，今天下单明天发货～"))
    claimed(next_row)
    outgoing_reply_receipt(actor=None, outgoing=next_row, result="confirmed")
    assert AlertEvent.objects.get(kind=AlertKind.UNKNOWN_SEND).resolved_at is not None


def test_a_rejected_receipt_needs_a_reason_and_puts_the_message_in_review(queued):
    claimed(queued)
    with pytest.raises(KefuError) as refused:
        outgoing_reply_receipt(actor=None, outgoing=queued, result="rejected")
    assert refused.value.detail == {"reason": ["Required when the reply is rejected."]}
    assert OutgoingReply.objects.get(pk=queued.pk).state == "sending"
    row = outgoing_reply_receipt(actor=None, outgoing=queued, result="rejected", reason="买家已不在线")
    assert row.state == "rejected"
    item = ReviewItem.objects.get(message=row.message)
    assert (item.reason, item.reason_detail) == ("outbox.rejected", "买家已不在线")
    assert not AlertEvent.objects.exists()


def test_a_receipt_for_a_row_not_sending_is_a_conflict(queued):
    with pytest.raises(TransitionRefused):
        outgoing_reply_receipt(actor=None, outgoing=queued, result="confirmed")
    claimed(queued)
    outgoing_reply_receipt(actor=None, outgoing=queued, result="confirmed")
    with pytest.raises(TransitionRefused):
        outgoing_reply_receipt(actor=None, outgoing=queued, result="unknown")
    assert OutgoingReply.objects.get(pk=queued.pk).state == "confirmed"


def test_only_the_claimer_gives_the_receipt(queued):
    claimed(queued, claimer="api:agent")
    with pytest.raises(Conflict) as refused:
        outgoing_reply_receipt(actor=None, outgoing=queued, result="confirmed", claimer="api:shopadmin")
    assert refused.value.code == "not_claimer"
    assert outgoing_reply_receipt(actor=None, outgoing=queued, result="confirmed", claimer="api:agent").state == (
        "confirmed")


@pytest.mark.parametrize(("result", "reason"), [("sent", ""), ("queued", ""), ("confirmed", "a\x00b"),
                                                ("unknown", "长" * 2001)])
def test_bad_receipts_are_refused_with_a_reason(queued, result, reason):
    claimed(queued)
    with pytest.raises(KefuError) as refused:
        outgoing_reply_receipt(actor=None, outgoing=queued, result=result, reason=reason)
    assert refused.value.status_code == 400 and refused.value.message
    assert OutgoingReply.objects.get(pk=queued.pk).state == "sending"


@pytest.mark.parametrize(("channel", "claimer"), [("fax", "x"), ("api", ""), ("api", "x" * 129)])
def test_bad_claims_are_refused(queued, channel, claimer):
    with pytest.raises(KefuError):
        claimed(queued, channel=channel, claimer=claimer)
    assert OutgoingReply.objects.get(pk=queued.pk).state == "queued"


@pytest.mark.parametrize("action", ["claim", "receipt", "cancel"])
def test_a_person_outside_the_shop_may_not_touch_its_outbox(queued, world, action):
    if action == "receipt":
        claimed(queued)
    calls = {
        "claim": lambda: claimed(queued, actor=world.outsider),
        "receipt": lambda: outgoing_reply_receipt(actor=world.outsider, outgoing=queued, result="confirmed"),
        "cancel": lambda: outgoing_reply_cancel(actor=world.outsider, outgoing=queued),
    }
    state = OutgoingReply.objects.get(pk=queued.pk).state
    with pytest.raises(PermissionDenied):
        calls[action]()
    assert OutgoingReply.objects.get(pk=queued.pk).state == state


def test_a_cancelled_reply_is_not_sent_and_its_message_goes_back_to_review(queued, world):
    row = outgoing_reply_cancel(actor=world.agent, outgoing=queued, reason="我在千牛里亲自回复")
    assert (row.state, row.receipt_reason) == ("cancelled", "我在千牛里亲自回复")
    item = ReviewItem.objects.get(message=row.message)
    assert (item.reason, item.draft) == ("outbox.cancelled", row.reply)
    assert statuses(row) == ["review", "review"]


def test_a_claimed_reply_can_no_longer_be_cancelled(queued, world):
    claimed(queued)
    with pytest.raises(TransitionRefused):
        outgoing_reply_cancel(actor=world.agent, outgoing=queued)
    assert OutgoingReply.objects.get(pk=queued.pk).state == "sending"
    assert not ReviewItem.objects.exists()


def test_a_holding_reply_that_fails_leaves_the_pending_review_item_as_it_was(world):
    shop_settings_template_ensure()
    message = MessageFactory(conversation__shop=world.shop, status=MessageStatus.PROCESSING)
    draft = ReplyFactory(message=message, source="ai", text="亲，这款XL有货")
    item = review_item_open(message=message, reason="kb.draft", draft=draft)
    holding = outgoing_reply_enqueue(reply=ReplyFactory(message=message, source="template",
                                                        text="亲，稍等，马上为您查询～"), answers_message=False)
    claimed(holding)
    outgoing_reply_receipt(actor=None, outgoing=holding, result="unknown")
    item.refresh_from_db()
    assert (item.status, item.reason, item.draft) == ("pending", "kb.draft", draft)
    assert ReviewItem.objects.count() == 1
    assert AlertEvent.objects.filter(kind=AlertKind.UNKNOWN_SEND).count() == 1


def test_the_sweeper_turns_sends_past_their_lease_into_unknown_never_queued(queued, world, settings):
    settings.KEFU_OUTBOX_SEND_LEASE_SECONDS = 60
    claimed(queued)
    other = outgoing_reply_enqueue(reply=ReplyFactory(message=MessageFactory(
        conversation__shop=world.shop, status=MessageStatus.PROCESSING), text="亲，包邮的哦～"))
    claimed(other, claimer="desktop-2")
    assert outgoing_reply_expire_leases(now=timezone.now() + timedelta(seconds=30)) == 0
    assert outgoing_reply_expire_leases(now=timezone.now() + timedelta(seconds=61)) == 2
    for row in OutgoingReply.objects.all():
        assert row.state == "unknown" and row.receipt_reason
        assert ReviewItem.objects.get(message=row.message).reason == "outbox.unknown"
    assert AlertEvent.objects.get(kind=AlertKind.UNKNOWN_SEND).count == 2
    assert outgoing_reply_expire_leases(now=timezone.now() + timedelta(days=1)) == 0


def test_a_late_receipt_after_the_sweep_is_refused(queued, settings):
    claimed(queued)
    outgoing_reply_expire_leases(now=timezone.now() + timedelta(seconds=settings.KEFU_OUTBOX_SEND_LEASE_SECONDS + 1))
    with pytest.raises(TransitionRefused):
        outgoing_reply_receipt(actor=None, outgoing=queued, result="confirmed")
    assert OutgoingReply.objects.get(pk=queued.pk).state == "unknown"


def race(count, target):
    """Run ``target(i)`` in ``count`` threads started together; return their outcomes."""
    barrier = threading.Barrier(count)
    outcomes = []

    def run(i):
        close_old_connections()
        try:
            barrier.wait()
            try:
                outcomes.append(("won", target(i)))
            except TransitionRefused:
                outcomes.append(("refused", i))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == count
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_of_many_senders_racing_for_one_reply_exactly_one_sends_it(world):
    shop_settings_template_ensure()
    message = MessageFactory(conversation__shop=world.shop, status=MessageStatus.PROCESSING)
    outgoing = outgoing_reply_enqueue(reply=ReplyFactory(message=message, text="亲，有货的～"))
    sent = []

    def send(i):
        row = claimed(outgoing, claimer=f"sender-{i}")
        sent.append(row.claimed_by)  # only a winner of the claim gets this far: it sends
        return outgoing_reply_receipt(actor=None, outgoing=outgoing, result="confirmed", claimer=row.claimed_by)

    outcomes = race(8, send)
    assert len(sent) == 1
    assert [outcome for outcome, _ in outcomes].count("won") == 1
    assert OutgoingReply.objects.get(pk=outgoing.pk).claimed_by == sent[0]


@pytest.mark.django_db(transaction=True)
def test_a_cancel_racing_a_claim_either_stops_the_send_or_is_refused(world):
    shop_settings_template_ensure()
    for _ in range(5):
        message = MessageFactory(conversation__shop=world.shop, status=MessageStatus.PROCESSING)
        outgoing = outgoing_reply_enqueue(reply=ReplyFactory(message=message, text=f"亲，{message.pk}号有货～"))
        outcomes = race(2, lambda i, o=outgoing: claimed(o) if i == 0 else outgoing_reply_cancel(actor=None,
                                                                                                 outgoing=o))
        assert [outcome for outcome, _ in outcomes].count("won") == 1
        row = OutgoingReply.objects.get(pk=outgoing.pk)
        assert row.state in ("sending", "cancelled")
        assert ReviewItem.objects.filter(message=message).exists() == (row.state == "cancelled")


@pytest.mark.django_db(transaction=True)
def test_a_receipt_racing_the_sweeper_ends_in_one_state_and_at_most_one_review_item(world, settings):
    shop_settings_template_ensure()
    settings.KEFU_OUTBOX_SEND_LEASE_SECONDS = 0
    for _ in range(5):
        message = MessageFactory(conversation__shop=world.shop, status=MessageStatus.PROCESSING)
        outgoing = outgoing_reply_enqueue(reply=ReplyFactory(message=message, text=f"亲，{message.pk}号包邮～"))
        claimed(outgoing)
        later = timezone.now() + timedelta(seconds=1)
        outcomes = race(2, lambda i, o=outgoing, t=later: outgoing_reply_receipt(actor=None, outgoing=o,
                                                                                 result="confirmed")
                        if i == 0 else outgoing_reply_expire_leases(now=t))
        row = OutgoingReply.objects.get(pk=outgoing.pk)
        assert row.state in ("confirmed", "unknown")
        assert ReviewItem.objects.filter(message=message).count() == (row.state == "unknown")
        assert len(outcomes) == 2
