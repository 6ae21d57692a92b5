"""Prepared reads and updates do what the ORM does, build their statement once per thread and shape, and fall
back to the ORM safely."""

import threading
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customer_service.models import Conversation, Message
from kefu.prepared import PreparedRead, PreparedUpdate
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


# -- prepared updates ------------------------------------------------------------------------------------------


def _claimable(pk):
    return Message.objects.filter(pk=pk, status="new")


def _columns(pk):
    return Message.objects.filter(pk=pk).values("status", "lease_owner", "lease_until", "burst_head_id",
                                                "status_rule").get()


@pytest.mark.django_db(transaction=True)
def test_an_update_writes_what_the_orm_writes_and_is_built_once_per_shape(chat):
    _, _, _, lines = chat
    build = CountingBuild(_claimable)
    update = PreparedUpdate(build)
    until = timezone.now() + timedelta(minutes=2)
    for number, line in enumerate(lines[:3]):
        values = {"status": "processing", "lease_owner": f"owner-{number}", "lease_until": until, "burst_head": None}
        assert update.update(where={"pk": line.pk}, values=values) == 1
        assert _columns(line.pk) == {"status": "processing", "lease_owner": f"owner-{number}", "lease_until": until,
                                     "burst_head_id": None, "status_rule": ""}
    # The row is no longer "new": nothing matches, as with the ORM.
    assert update.update(where={"pk": lines[0].pk}, values={"status": "processing", "lease_owner": "late",
                                                             "lease_until": until, "burst_head": None}) == 0
    assert _columns(lines[0].pk)["lease_owner"] == "owner-0"
    assert build.calls == 2 and not update._refused


@pytest.mark.django_db(transaction=True)
def test_each_shape_of_an_update_has_its_statement_and_the_set_clause_keeps_its_order(chat):
    _, _, _, lines = chat
    update = PreparedUpdate(lambda pk, old: Message.objects.filter(pk=pk, status=old))
    # the same names in another order, a constant written (None, then an id), an id for a relation
    assert update.update(where={"pk": lines[0].pk, "old": "new"},
                         values={"status_rule": "kb.auto", "status": "answered"}) == 1
    assert update.update(where={"pk": lines[1].pk, "old": "new"},
                         values={"status": "answered", "status_rule": "kb.auto"}) == 1
    assert update.update(where={"pk": lines[2].pk, "old": "new"},
                         values={"status": "review", "burst_head_id": lines[1].pk}) == 1
    assert update.update(where={"pk": lines[3].pk, "old": "new"},
                         values={"status": "review", "burst_head_id": None}) == 1
    rows = [_columns(line.pk) for line in lines]
    assert [(r["status"], r["status_rule"], r["burst_head_id"]) for r in rows] == [
        ("answered", "kb.auto", None), ("answered", "kb.auto", None), ("review", "", lines[1].pk), ("review", "", None)]
    assert len(update._local.compiled) == 4 and not update._refused


@pytest.mark.django_db(transaction=True)
def test_an_update_of_another_kind_or_through_other_tables_goes_through_the_orm(chat, caplog):
    conversation, _, _, lines = chat
    build = CountingBuild(_claimable)
    update = PreparedUpdate(build)
    # a model instance is not a value a statement takes: the ORM writes its id, this time
    assert update.update(where={"pk": lines[0].pk}, values={"burst_head": lines[1]}) == 1
    assert _columns(lines[0].pk)["burst_head_id"] == lines[1].pk and build.calls == 1
    assert not update._refused
    # rows chosen through another table: the ORM updates through a subquery, never prepared
    joined = PreparedUpdate(lambda buyer_id: Message.objects.filter(conversation__buyer_id=buyer_id))
    assert joined.update(where={"buyer_id": conversation.buyer_id}, values={"status_rule": "moved"}) == len(lines)
    assert joined._refused and "reads other tables" in caplog.text
    assert {r["status_rule"] for r in map(_columns, (line.pk for line in lines))} == {"moved"}


@pytest.mark.django_db(transaction=True)
def test_an_update_runs_through_the_connection_and_a_failure_marks_the_transaction(chat):
    _, _, _, lines = chat
    update = PreparedUpdate(lambda pk: Message.objects.filter(pk=pk))
    update.update(where={"pk": lines[0].pk}, values={"status_rule": "first"})
    with CaptureQueriesContext(connection) as queries:
        assert update.update(where={"pk": lines[1].pk}, values={"status_rule": "second"}) == 1
    assert len(queries) == 1 and queries[0]["sql"].startswith("UPDATE")
    # A statement that fails inside a transaction leaves it to be rolled back, as the ORM's update does.
    for _ in range(2):  # the first call prepares the shape, the second runs it prepared
        with transaction.atomic():
            with pytest.raises(IntegrityError):
                update.update(where={"pk": lines[2].pk}, values={"status_rule": None})
            assert transaction.get_rollback()
    assert _columns(lines[2].pk)["status_rule"] == "" and not update._refused


@pytest.mark.django_db(transaction=True)
def test_each_thread_prepares_its_own_update(chat):
    _, _, _, lines = chat
    update = PreparedUpdate(lambda pk: Message.objects.filter(pk=pk))
    assert update.update(where={"pk": lines[0].pk}, values={"status_rule": "main"}) == 1
    seen = []

    def other_thread():
        from django.db import connections

        try:
            seen.append(update.update(where={"pk": lines[1].pk}, values={"status_rule": "other"}))
        finally:
            connections.close_all()

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert seen == [1] and _columns(lines[1].pk)["status_rule"] == "other"


@pytest.mark.django_db(transaction=True)
def test_an_integer_is_written_in_the_type_of_its_column(chat):
    # PostgreSQL's backend hands psycopg a small integer column's value as Int2, a bigint's as Int8
    _, _, _, lines = chat
    update = PreparedUpdate(lambda pk: Message.objects.filter(pk=pk))
    for attempts, line in enumerate(lines[:3], start=1):
        assert update.update(where={"pk": line.pk}, values={"attempts": attempts}) == 1
    assert [m.attempts for m in Message.objects.filter(pk__in=[line.pk for line in lines[:3]]).order_by("pk")] == [
        1, 2, 3]
    assert not update._refused


@pytest.mark.django_db(transaction=True)
def test_a_shape_that_cannot_be_prepared_leaves_the_others_prepared(chat, caplog):
    _, _, _, lines = chat
    update = PreparedUpdate(lambda pk: Message.objects.filter(pk=pk))
    # an id given as text: the ORM turns it into a number, a marker cannot go that way
    assert update.update(where={"pk": str(lines[0].pk)}, values={"status_rule": "by text"}) == 1
    assert update.update(where={"pk": str(lines[1].pk)}, values={"status_rule": "by text"}) == 1
    assert update.update(where={"pk": lines[2].pk}, values={"status_rule": "by id"}) == 1
    assert len(update._refused) == 1 and len(update._local.compiled) == 1
    assert caplog.text.count("run through the ORM") == 1
    assert [_columns(line.pk)["status_rule"] for line in lines[:3]] == ["by text", "by text", "by id"]
