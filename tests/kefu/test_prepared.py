"""Prepared reads give what the ORM gives, build their statement once per thread, and fall back safely."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customer_service.models import Conversation, Message
from kefu.prepared import PreparedRead
from tests.customer_service.factories import ConversationFactory, MessageFactory


class CountingBuild:
    """A read's builder that counts how often the queryset is built."""

    def __init__(self, build):
        self.build, self.calls = build, 0

    def __call__(self, **values):
        self.calls += 1
        return self.build(**values)


def _lines(conversation_id, received_before):
    return (Message.objects.filter(conversation_id=conversation_id, received_at__lte=received_before)
            .exclude(status="ignored").order_by("received_at", "id").values_list("pk", "content", "received_at"))


@pytest.fixture
def chat():
    conversation = ConversationFactory()
    start = timezone.now() - timedelta(minutes=10)
    lines = [MessageFactory(conversation=conversation, content=f"第{n}句", received_at=start + timedelta(minutes=n))
             for n in range(4)]
    other = ConversationFactory(shop=conversation.shop)
    MessageFactory(conversation=other, content="别的买家", received_at=start)
    return conversation, other, start, lines


@pytest.mark.django_db(transaction=True)
def test_rows_are_the_orms_for_every_value_and_the_statement_is_built_once(chat):
    conversation, other, start, _ = chat
    build = CountingBuild(_lines)
    read = PreparedRead(build)
    calls = [(conversation.pk, start + timedelta(minutes=1, seconds=30)), (conversation.pk, timezone.now()),
             (other.pk, timezone.now()), (conversation.pk, start - timedelta(days=1))]
    for conversation_id, before in calls:
        assert read(conversation_id=conversation_id, received_before=before) == list(
            _lines(conversation_id, before))
    # Once with the markers, once with the first call's values to check the statement; never again.
    assert build.calls == 2


@pytest.mark.django_db(transaction=True)
def test_model_rows_come_with_their_related_objects(chat):
    _, _, _, lines = chat
    read = PreparedRead(lambda pk: Message.objects.select_related("shop", "conversation").filter(pk=pk)[:1])
    for line in lines[:2]:
        (row,) = read(pk=line.pk)
        assert (row.pk, row.content, row.received_at) == (line.pk, line.content, line.received_at)
        with CaptureQueriesContext(connection) as queries:
            assert (row.shop.name, row.conversation.buyer_id) == (line.shop.name, line.conversation.buyer_id)
        assert len(queries) == 0
    assert read(pk=10**9) == []


@pytest.mark.django_db(transaction=True)
def test_flat_values_and_dicts_come_as_the_orm_gives_them(chat):
    conversation, _, _, lines = chat
    flat = PreparedRead(lambda conversation_id: Message.objects.filter(conversation_id=conversation_id)
                        .order_by("id").values_list("content", flat=True))
    dicts = PreparedRead(lambda content: Message.objects.filter(content=content).values("pk", "status"))
    assert flat(conversation_id=conversation.pk) == [line.content for line in lines]
    assert dicts(content="第2句") == [{"pk": lines[2].pk, "status": lines[2].status}]
    assert dicts(content="没有这句") == []


@pytest.mark.django_db(transaction=True)
def test_the_statement_runs_through_the_connection_and_its_wrappers(chat):
    conversation, _, _, lines = chat
    read = PreparedRead(lambda conversation_id: Message.objects.filter(conversation_id=conversation_id)
                        .values_list("pk", flat=True))
    read(conversation_id=conversation.pk)
    with CaptureQueriesContext(connection) as queries:
        assert sorted(read(conversation_id=conversation.pk)) == [line.pk for line in lines]
    assert len(queries) == 1 and str(conversation.pk) in queries[0]["sql"]


@pytest.mark.django_db(transaction=True)
def test_values_of_another_kind_go_through_the_orm(chat):
    _, _, _, lines = chat
    build = CountingBuild(lambda burst_head_id: Message.objects.filter(burst_head_id=burst_head_id)
                          .order_by("id").values_list("pk", flat=True))
    read = PreparedRead(build)
    Message.objects.filter(pk=lines[1].pk).update(burst_head_id=lines[0].pk)
    assert read(burst_head_id=lines[0].pk) == [lines[1].pk]
    calls = build.calls
    # None is IS NULL, not "= %s": built by the ORM, every time.
    assert sorted(read(burst_head_id=None)) == sorted(
        Message.objects.filter(burst_head_id=None).values_list("pk", flat=True))
    assert build.calls == calls + 1
    # The prepared statement still serves the values it was built for.
    assert read(burst_head_id=lines[0].pk) == [lines[1].pk]
    assert build.calls == calls + 1


@pytest.mark.django_db(transaction=True)
def test_a_lookup_that_transforms_its_value_is_never_prepared(chat, caplog):
    _, _, _, lines = chat
    build = CountingBuild(lambda part: Message.objects.filter(content__contains=part).order_by("id")
                          .values_list("pk", flat=True))
    read = PreparedRead(build)
    assert read(part="2句") == [lines[2].pk]
    assert read(part="句") == [line.pk for line in lines]
    assert "run through the ORM" in caplog.text
    assert build.calls == 3  # the markers once, then the ORM for each call


@pytest.mark.django_db(transaction=True)
def test_each_thread_builds_its_own_statement_for_its_own_connection(chat):
    conversation, _, _, lines = chat
    read = PreparedRead(lambda conversation_id: Message.objects.filter(conversation_id=conversation_id)
                        .order_by("id").values_list("pk", flat=True))
    expected = [line.pk for line in lines]
    assert read(conversation_id=conversation.pk) == expected
    seen = []

    def other_thread():
        from django.db import connections

        try:
            seen.append(read(conversation_id=conversation.pk))
        finally:
            connections.close_all()

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert seen == [expected]


@pytest.mark.django_db(transaction=True)
def test_a_read_that_prefetches_is_run_through_the_orm_with_its_prefetch(chat):
    conversation, _, _, lines = chat
    read = PreparedRead(lambda pk: Conversation.objects.filter(pk=pk).prefetch_related("messages"))
    (row,) = read(pk=conversation.pk)
    with CaptureQueriesContext(connection) as queries:
        assert sorted(m.pk for m in row.messages.all()) == [line.pk for line in lines]
    assert len(queries) == 0


@pytest.mark.django_db(transaction=True)
def test_a_first_value_that_needs_no_statement_is_answered_by_the_orm_and_the_next_is_prepared(chat):
    _, _, _, lines = chat
    build = CountingBuild(lambda pk: Message.objects.filter(pk=pk).values_list("content", flat=True))
    read = PreparedRead(build)
    assert read(pk=2**70) == []  # past the key's range: the ORM knows no row can match and sends nothing
    assert read(pk=lines[1].pk) == [lines[1].content]
    assert read(pk=lines[2].pk) == [lines[2].content]
    assert not read._refused and build.calls == 5  # markers + check, twice; the ORM once; then nothing
