"""message_ingest: idempotent on (shop, external_id), race-safe, takeover from a person's seller line."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from configs import services as config_services
from customer_service.models import Conversation, Message, MessageStatus, OutgoingState
from customer_service.pipeline.services import message_ingest
from kefu.exceptions import KefuError, PermissionDenied
from tests.configs.factories import shop_settings_template_ensure
from tests.customer_service.factories import OutgoingReplyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings_template(db):
    shop_settings_template_ensure()


def ingest(shop, external_id="m-1", content="这款有XL吗？", **kwargs):
    kwargs.setdefault("buyer_id", "小明")
    return message_ingest(shop=shop, content=content, external_id=external_id, **kwargs)


def test_a_new_line_is_recorded_with_its_conversation_and_enqueued_after_the_commit(
    world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        message, created = ingest(world.shop)
    assert created
    assert (message.status, message.direction, message.source) == ("new", "buyer", "api")
    conversation = message.conversation
    assert (conversation.shop, conversation.buyer_id) == (world.shop, "小明")
    assert conversation.last_activity_at == message.received_at
    assert len(callbacks) == 1  # processing is enqueued once the line is committed


def test_the_same_external_id_again_returns_the_first_row_and_changes_nothing(
    world, django_capture_on_commit_callbacks
):
    first, _ = ingest(world.shop, content="第一次")
    with django_capture_on_commit_callbacks() as callbacks:
        again, created = ingest(world.shop, content="内容不同了", buyer_id="另一个买家")
    assert not created
    assert again.pk == first.pk and again.content == "第一次"
    assert Message.objects.count() == 1 and Conversation.objects.count() == 1
    assert callbacks == []


def test_the_same_external_id_in_another_shop_is_another_message(world):
    ingest(world.shop)
    _other, created = ingest(world.other_shop)
    assert created
    assert Message.objects.count() == 2


def test_lines_of_one_buyer_share_a_conversation_and_move_its_activity_forward(world):
    first, _ = ingest(world.shop, external_id="a")
    second, _ = ingest(world.shop, external_id="b")
    assert first.conversation_id == second.conversation_id
    second.conversation.refresh_from_db()
    assert second.conversation.last_activity_at == second.received_at


def _conversation_statements(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if '"customer_service_conversation"' in q["sql"]]


def test_a_line_opens_or_touches_its_conversation_in_one_statement(world):
    with CaptureQueriesContext(connection) as opening:
        ingest(world.shop, external_id="a")
    with CaptureQueriesContext(connection) as touching:
        second, _ = ingest(world.shop, external_id="b")
    assert len(_conversation_statements(opening)) == 1
    assert len(_conversation_statements(touching)) == 1
    assert Conversation.objects.get().last_activity_at == second.received_at


def test_a_known_conversation_is_returned_as_stored_and_its_activity_never_moves_back(world):
    first, _ = ingest(world.shop, external_id="a")
    later = timezone.now() + timedelta(hours=1)
    takeover = timezone.now() + timedelta(minutes=30)
    Conversation.objects.filter(pk=first.conversation_id).update(last_activity_at=later, takeover_until=takeover)
    second, created = ingest(world.shop, external_id="b")
    assert created
    conversation = second.conversation
    assert conversation.pk == first.conversation_id
    assert (conversation.created_at, conversation.takeover_until) == (first.conversation.created_at, takeover)
    assert conversation.shop == world.shop and conversation.buyer_id == "小明"
    assert Conversation.objects.get().last_activity_at == later


def _scheduling_reads_of_lines(callbacks) -> list[str]:
    """Run the commit callbacks (the scheduling) with the task sent to the broker rather than run: the reads
    of buyer lines the scheduling itself makes."""
    from kefu.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        with CaptureQueriesContext(connection) as queries:
            for callback in callbacks:
                callback()
    finally:
        app.conf.task_always_eager = eager
    return [q["sql"] for q in queries.captured_queries
            if q["sql"].startswith("SELECT") and 'FROM "customer_service_message"' in q["sql"]]


def test_the_line_that_opens_a_conversation_is_scheduled_without_reading_it_back(
    world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        ingest(world.shop, external_id="a")
    assert _scheduling_reads_of_lines(callbacks) == []
    # A later line's burst may hold earlier lines: those are read.
    with django_capture_on_commit_callbacks() as callbacks:
        ingest(world.shop, external_id="b")
    assert len(_scheduling_reads_of_lines(callbacks)) == 1


def _statements(queries):
    return [q["sql"] for q in queries.captured_queries
            if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT"))]


def test_a_known_external_id_writes_nothing_and_its_lookup_orders_nothing(world):
    first, _ = ingest(world.shop, external_id="a")
    stored = Conversation.objects.values().get()
    later = timezone.now() + timedelta(minutes=5)
    with time_machine.travel(later, tick=False), CaptureQueriesContext(connection) as queries:
        again, created = ingest(world.shop, external_id="a", buyer_id="小红")
    assert not created and again.pk == first.pk
    assert list(Conversation.objects.values()) == [stored]  # no activity moved, no conversation opened
    statements = _statements(queries)
    assert len(statements) == 2 and not any("ORDER BY" in sql for sql in statements)


def test_a_new_line_is_recorded_in_as_few_statements_as_the_database_allows(
    world, django_capture_on_commit_callbacks
):
    first, _ = ingest(world.shop, external_id="a")
    with django_capture_on_commit_callbacks(), CaptureQueriesContext(connection) as queries:
        line, created = ingest(world.shop, external_id="b", content="有XL吗")
    # PostgreSQL: the conversation, with the check that the external id is new, and the line in one statement;
    # SQLite (no INSERT inside WITH): the conversation, then the line.
    assert len(_statements(queries)) == (1 if connection.vendor == "postgresql" else 2)
    stored = Message.objects.get(pk=line.pk)
    assert created
    assert (stored.conversation_id, stored.content, stored.status) == (first.conversation_id, "有XL吗", "new")
    assert (stored.received_at, stored.created_at, stored.updated_at) == (line.received_at, line.created_at,
                                                                          line.updated_at)


def test_the_same_external_id_with_content_that_cannot_be_recorded_returns_the_first_row(world):
    first, _ = ingest(world.shop, external_id="a")
    again, created = ingest(world.shop, external_id="a", content="   ")
    assert (again.pk, created) == (first.pk, False)
    with pytest.raises(KefuError):
        ingest(world.shop, external_id="new", content="   ")


@pytest.mark.parametrize(("field", "value"), [
    ("content", ""), ("content", "   "), ("content", "坏\x00字符"), ("buyer_id", ""), ("buyer_id", "x" * 129),
    ("external_id", ""), ("external_id", "x" * 192),
])
def test_a_line_that_cannot_be_recorded_is_refused_with_the_field_named(world, field, value):
    values = {"content": "你好", "buyer_id": "小明", "external_id": "e-1", field: value}
    with pytest.raises(KefuError) as refused:
        message_ingest(shop=world.shop, **values)
    assert refused.value.code == "validation_error"
    assert field in refused.value.detail
    assert not Message.objects.exists() and not Conversation.objects.exists()


def test_a_naive_sent_at_is_refused(world):
    with pytest.raises(KefuError):
        ingest(world.shop, sent_at=timezone.now().replace(tzinfo=None))


def test_a_person_outside_the_shop_may_not_ingest(world):
    with pytest.raises(PermissionDenied):
        ingest(world.shop, actor=world.outsider)
    assert ingest(world.shop, actor=world.agent)[1]
    assert ingest(world.shop, external_id="m-2", actor=world.superadmin)[1]


def test_a_sellers_own_line_takes_the_conversation_over_for_the_shops_period(world):
    config_services.shop_settings_update(shop=world.shop, actor=world.shop_admin,
                                         values={"pipeline": {"takeover_minutes": 15}})
    line, _ = ingest(world.shop, content="亲，我帮您看一下", direction="seller")
    assert (line.status, line.status_rule) == (MessageStatus.IGNORED, "seller.takeover")
    conversation = Conversation.objects.get(pk=line.conversation_id)
    assert conversation.taken_over()
    expected = line.received_at + timedelta(minutes=15)
    assert abs((conversation.takeover_until - expected).total_seconds()) < 1


def test_kefus_own_reply_read_back_from_the_window_is_no_takeover(world):
    buyer_line, _ = ingest(world.shop, external_id="b-1")
    OutgoingReplyFactory(reply__message=buyer_line, reply__text="亲，XL有货的哦～", state=OutgoingState.CONFIRMED)
    echo, _ = ingest(world.shop, external_id="s-1", content="亲，XL 有货的哦～", direction="seller")
    assert echo.status_rule == "seller.echo"
    assert not Conversation.objects.get(pk=echo.conversation_id).taken_over()


def test_takeover_off_when_the_shops_period_is_zero(world):
    config_services.shop_settings_update(shop=world.shop, actor=world.shop_admin,
                                         values={"pipeline": {"takeover_minutes": 0}})
    line, _ = ingest(world.shop, direction="seller", content="人工回复")
    assert not Conversation.objects.get(pk=line.conversation_id).taken_over()


def test_a_seller_line_is_not_enqueued_for_processing(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        ingest(world.shop, direction="seller", content="人工回复")
    assert callbacks == []


@pytest.mark.django_db(transaction=True)
def test_two_threads_ingesting_one_external_id_record_one_message(world):
    shop_settings_template_ensure()
    barrier = threading.Barrier(6)
    results, errors = [], []

    def send(i):
        close_old_connections()
        try:
            barrier.wait()
            message, created = message_ingest(shop=world.shop, buyer_id="小明", content=f"第{i}个版本",
                                              external_id="same-id")
            results.append((message.pk, created, message.content))
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Message.objects.count() == 1 and Conversation.objects.count() == 1
    stored = Message.objects.get()
    assert {pk for pk, _created, _content in results} == {stored.pk}
    assert sum(created for _pk, created, _content in results) == 1
    assert {content for _pk, _created, content in results} == {stored.content}


@pytest.mark.django_db(transaction=True)
def test_two_threads_opening_one_buyers_conversation_share_it(world):
    shop_settings_template_ensure()
    barrier = threading.Barrier(4)
    errors = []

    def send(i):
        close_old_connections()
        try:
            barrier.wait()
            message_ingest(shop=world.shop, buyer_id="新买家", content="在吗", external_id=f"id-{i}")
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Conversation.objects.filter(buyer_id="新买家").count() == 1
    assert Message.objects.filter(conversation__buyer_id="新买家").count() == 4


def _answered_with_queued_reply(world, text="亲，XL有货的哦～", state=OutgoingState.QUEUED):
    buyer_line, _ = ingest(world.shop, external_id="b-1")
    Message.objects.filter(pk=buyer_line.pk).update(status=MessageStatus.ANSWERED)
    return buyer_line, OutgoingReplyFactory(reply__message=buyer_line, reply__text=text, text=text, state=state)


def test_a_person_answering_in_qianniu_cancels_kefus_replies_still_queued_for_that_buyer(world):
    buyer_line, queued = _answered_with_queued_reply(world)
    other_buyer, _ = ingest(world.shop, external_id="b-2", buyer_id="小红")
    Message.objects.filter(pk=other_buyer.pk).update(status=MessageStatus.ANSWERED)
    others = OutgoingReplyFactory(reply__message=other_buyer, state=OutgoingState.QUEUED)

    ingest(world.shop, external_id="s-1", content="亲，有的，我帮您备注好了", direction="seller")

    queued.refresh_from_db()
    assert queued.state == OutgoingState.CANCELLED  # the buyer would have had two answers
    assert "Qianniu" in queued.receipt_reason or "千牛" in queued.receipt_reason
    buyer_line.refresh_from_db()
    assert (buyer_line.status, buyer_line.status_rule) == (MessageStatus.REVIEW, "outbox.cancelled")
    others.refresh_from_db()
    assert others.state == OutgoingState.QUEUED  # another buyer's reply is not touched


def test_a_reply_a_sender_claimed_already_is_left_to_its_receipt(world):
    buyer_line, sending = _answered_with_queued_reply(world, state=OutgoingState.SENDING)
    ingest(world.shop, external_id="s-1", content="亲，有的，我帮您备注好了", direction="seller")
    sending.refresh_from_db()
    buyer_line.refresh_from_db()
    assert (sending.state, buyer_line.status) == (OutgoingState.SENDING, MessageStatus.ANSWERED)


def test_kefus_queued_reply_read_back_from_the_window_cancels_nothing(world):
    _buyer_line, queued = _answered_with_queued_reply(world)
    echo, _ = ingest(world.shop, external_id="s-1", content="亲，XL 有货的哦～", direction="seller")
    assert echo.status_rule == "seller.echo"
    queued.refresh_from_db()
    assert queued.state == OutgoingState.QUEUED


def test_a_buyer_line_written_in_one_statement_is_the_row_save_writes(world, monkeypatch):
    from customer_service.pipeline import services

    sent_at = timezone.now() - timedelta(seconds=3)
    one_statement, _ = ingest(world.shop, external_id="a", sent_at=sent_at, source="qianniu")
    monkeypatch.setattr(services, "_buyer_line_record", services._line_record)  # the path every other line takes
    saved, _ = ingest(world.shop, external_id="b", sent_at=sent_at, source="qianniu")
    apart = {"id", "external_id", "created_at", "updated_at", "received_at"}
    rows = [{k: v for k, v in Message.objects.filter(pk=line.pk).values().get().items() if k not in apart}
            for line in (one_statement, saved)]
    assert rows[0] == rows[1] and rows[0]["sent_at"] == sent_at and rows[0]["source"] == "qianniu"
