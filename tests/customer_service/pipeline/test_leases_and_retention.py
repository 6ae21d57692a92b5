"""Crash safety (the lease sweep) and the retention purge."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from configs import services as config_services
from customer_service.models import Conversation, Message, MessageStatus, OutgoingReply, Reply, ReviewItem
from customer_service.pipeline import processing
from customer_service.pipeline.processing import MAX_ATTEMPTS, message_leases_sweep
from customer_service.pipeline.retention import messages_purge
from customer_service.pipeline.services import message_ingest
from tests.configs.factories import shop_settings_template_ensure
from tests.customer_service.factories import (
    ConversationFactory,
    MessageFactory,
    OutgoingReplyFactory,
    ReviewItemFactory,
)

pytestmark = pytest.mark.django_db

WEDNESDAY_AFTERNOON = datetime(2025, 3, 12, 14, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(autouse=True)
def _settings_template(db):
    shop_settings_template_ensure()


def claim_and_die(message):
    """A worker claims the burst and dies before writing anything."""
    lines = processing._unanswered(message.conversation_id)
    return processing._claim(lines, full=False, now=processing.timezone.now(), seen_id=message.pk)


def test_a_dead_workers_burst_goes_back_to_new_after_its_lease_and_is_processed_again(
    world, django_capture_on_commit_callbacks
):
    with time_machine.travel(WEDNESDAY_AFTERNOON, tick=False) as clock:
        line, _ = message_ingest(shop=world.shop, buyer_id="小明", content="你好呀", external_id="a")
        clock.shift(2)
        claim = claim_and_die(line)
        assert Message.objects.get(pk=line.pk).status == "processing"

        clock.shift(processing.LEASE_SECONDS - 1)
        assert message_leases_sweep().released == 0  # still within the lease

        clock.shift(2)
        with django_capture_on_commit_callbacks(execute=True):
            result = message_leases_sweep()  # eager: the rescheduled processing runs at once
    assert (result.released, result.failed, result.rescheduled) == (1, 0, 1)
    line.refresh_from_db()
    assert line.attempts == 1
    assert line.status == "review" and ReviewItem.objects.get().message == line  # processed again: kb.none
    assert processing.message_draft_finish(head_id=line.pk, owner=claim.owner, text="x",
                                           decision={"action": "draft", "rule": "kb.none"}) == "lost"


def test_after_the_last_attempt_the_burst_fails_and_goes_to_review_with_the_reason(world):
    with time_machine.travel(WEDNESDAY_AFTERNOON, tick=False) as clock:
        first, _ = message_ingest(shop=world.shop, buyer_id="小明", content="在吗", external_id="a")
        last, _ = message_ingest(shop=world.shop, buyer_id="小明", content="有货吗？", external_id="b")
        Message.objects.filter(pk__in=[first.pk, last.pk]).update(attempts=MAX_ATTEMPTS - 1)
        clock.shift(2)
        claim_and_die(last)
        clock.shift(processing.LEASE_SECONDS + 1)
        result = message_leases_sweep()
    assert (result.released, result.failed) == (0, 2)
    item = ReviewItem.objects.get()
    assert (item.message_id, item.reason) == (last.pk, "pipeline.failed")
    assert "3 attempts" in item.reason_detail
    for message in Message.objects.filter(pk__in=[first.pk, last.pk]):
        assert (message.status, message.attempts, message.lease_owner) == ("review", MAX_ATTEMPTS, "")


def test_a_waiting_line_whose_processing_was_never_enqueued_is_picked_up(world, django_capture_on_commit_callbacks):
    with time_machine.travel(WEDNESDAY_AFTERNOON, tick=False) as clock:
        # No on-commit callbacks run here: as if the process died between the commit and the enqueue.
        line, _ = message_ingest(shop=world.shop, buyer_id="小明", content="你好呀", external_id="a")
        clock.shift(10)
        assert message_leases_sweep().rescheduled == 0  # still young: its task may just be queued
        clock.shift(processing.STALE_NEW_SECONDS)
        with django_capture_on_commit_callbacks(execute=True):
            assert message_leases_sweep().rescheduled == 1
    assert Message.objects.get(pk=line.pk).status == "review"


def test_nothing_is_lost_every_buyer_line_ends_answered_in_review_or_ignored(world, django_capture_on_commit_callbacks):
    """Lines, some of whose workers die, all reach an end state once the sweep has run often enough."""
    with time_machine.travel(WEDNESDAY_AFTERNOON, tick=False) as clock:
        lines = []
        for i in range(6):
            line, _ = message_ingest(shop=world.shop, buyer_id=f"买家{i % 3}", content=f"问题{i}？",
                                     external_id=f"x{i}")
            lines.append(line)
        clock.shift(2)
        for line in lines[:3]:
            claim_and_die(line)  # three conversations' workers die
        for _ in range(MAX_ATTEMPTS + 1):
            clock.shift(max(processing.LEASE_SECONDS, processing.STALE_NEW_SECONDS) + 1)
            with django_capture_on_commit_callbacks(execute=True):
                message_leases_sweep()
    ends = set(Message.objects.filter(pk__in=[m.pk for m in lines]).values_list("status", flat=True))
    assert ends <= {"answered", "review", "ignored"}


# --- retention ----------------------------------------------------------------------------------------


def test_messages_past_the_shops_retention_go_with_their_replies_review_items_and_outbox_rows(world):
    config_services.shop_settings_update(shop=world.shop, actor=world.shop_admin,
                                         values={"pipeline": {"retention_days": 30}})
    now = datetime(2025, 6, 1, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    long_ago = now - timedelta(days=31)
    idle = ConversationFactory(shop=world.shop, last_activity_at=long_ago)
    idle_line = MessageFactory(conversation=idle, received_at=long_ago)
    OutgoingReplyFactory(reply__message=idle_line)
    going = ConversationFactory(shop=world.shop, last_activity_at=now)
    old_line = MessageFactory(conversation=going, received_at=long_ago, status=MessageStatus.REVIEW)
    ReviewItemFactory(message=old_line)
    recent_line = MessageFactory(conversation=going, received_at=now - timedelta(days=29))
    in_flight = MessageFactory(conversation=going, received_at=long_ago, status=MessageStatus.PROCESSING)
    # The other shop keeps the shipped 180 days.
    other_line = MessageFactory(conversation__shop=world.other_shop, conversation__last_activity_at=long_ago,
                                received_at=long_ago)

    totals = messages_purge(now=now, batch_size=1)

    assert totals == {"conversations": 1, "messages": 1}
    assert set(Conversation.objects.values_list("pk", flat=True)) == {going.pk, other_line.conversation_id}
    assert set(Message.objects.values_list("pk", flat=True)) == {recent_line.pk, in_flight.pk, other_line.pk}
    assert not OutgoingReply.objects.exists() and not ReviewItem.objects.exists()
    assert not Reply.objects.filter(message_id__in=[idle_line.pk, old_line.pk]).exists()
    assert messages_purge(now=now) == {"conversations": 0, "messages": 0}
