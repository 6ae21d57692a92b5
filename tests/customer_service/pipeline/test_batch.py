"""A process task answers its shop's other ready one-line questions in one batch, every guarantee kept."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from configs.cache import unit_of_work
from customer_service.models import Message, OutgoingReply, Reply, ReviewItem
from customer_service.pipeline import batch, drafting, processing
from customer_service.pipeline.bursts import burst_text
from customer_service.pipeline.processing import message_leases_sweep, message_process
from customer_service.pipeline.selectors import burst_policy_get
from knowledge import services as knowledge_services
from tests.configs.factories import shop_settings_template_ensure

from .conftest import ANSWER, SHELF_LIFE, WEDNESDAY_AFTERNOON
from .test_processing import auto_send_for, configure, say, statuses

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_indexes")]


def replies_per_line(lines):
    return [(Reply.objects.filter(message_id=m.pk).count(), OutgoingReply.objects.filter(message_id=m.pk).count())
            for m in lines]


def test_one_task_answers_the_shops_ready_lines_and_their_own_tasks_have_nothing_left(world, faq, clock):
    auto_send_for(world, SHELF_LIFE)
    lines = [say(world, SHELF_LIFE, buyer=f"买家{i}") for i in range(6)]
    clock.shift(2)

    with CaptureQueriesContext(connection) as batch_queries, unit_of_work():  # as a worker's task runs
        outcome = message_process(message_id=lines[3].pk)

    assert (outcome.action, outcome.rule, outcome.head_id) == ("send", "kb.auto", lines[3].pk)
    assert statuses(*lines) == ["answered"] * 6
    assert replies_per_line(lines) == [(1, 1)] * 6
    for line in Message.objects.filter(pk__in=[m.pk for m in lines]):
        assert (line.status_rule, line.lease_owner, line.lease_until, line.answered_at) == (
            "kb.auto", "", None, timezone.now())
        reply = Reply.objects.get(message=line)
        assert (reply.text, reply.source, reply.rule, reply.outgoing.state) == (ANSWER, "kb", "kb.auto", "queued")
        assert reply.outgoing.conversation_id == line.conversation_id
    # A few statements for all six lines (one by one: ten or more each), besides the knowledge search's own
    # freshness check per search and the settings (read once per task by a worker, outside a test's transaction).
    statements = [q["sql"] for q in batch_queries.captured_queries
                  if "knowledge_indexstamp" not in q["sql"] and "configs_" not in q["sql"]]
    assert len(statements) <= 13, "\n".join(statements)
    for line in lines:
        with CaptureQueriesContext(connection) as own_task:
            assert message_process(message_id=line.pk).action == "none"
        assert len(own_task.captured_queries) == 1


def test_without_batches_a_task_answers_its_own_line_only(world, faq, clock, settings):
    settings.KEFU_PIPELINE_BATCH_SIZE = 0
    auto_send_for(world, SHELF_LIFE)
    lines = [say(world, SHELF_LIFE, buyer=f"买家{i}") for i in range(3)]
    clock.shift(2)
    assert message_process(message_id=lines[1].pk).action == "send"
    assert statuses(*lines) == ["new", "answered", "new"]


def test_the_batch_takes_only_lines_alone_and_past_their_quiet_window(world, faq, clock):
    auto_send_for(world, SHELF_LIFE)
    fragments = [say(world, "在吗", buyer="分段"), say(world, SHELF_LIFE, buyer="分段")]
    early = say(world, SHELF_LIFE, buyer="早")
    clock.shift(0.1)
    mine = say(world, SHELF_LIFE, buyer="我")
    clock.shift(0.2)
    fresh = say(world, SHELF_LIFE, buyer="刚到")  # its quiet window has not passed
    clock.shift(0.15)

    assert message_process(message_id=mine.pk).action == "send"

    assert statuses(early, mine, fresh, *fragments) == ["answered", "answered", "new", "new", "new"]
    clock.shift(1)
    assert message_process(message_id=fragments[-1].pk).action == "send"  # the burst, on its own path
    assert statuses(*fragments, fresh) == ["answered", "answered", "answered"]
    assert Reply.objects.get(message=fragments[-1]).message.burst_head_id is None
    assert Message.objects.get(pk=fragments[0].pk).burst_head_id == fragments[-1].pk


def test_lines_that_are_not_plain_knowledge_answers_go_their_usual_way(world, faq, clock, monkeypatch, on_commit):
    auto_send_for(world, SHELF_LIFE)
    configure(world, buyer_blacklist=["坏买家"])
    monkeypatch.setattr(drafting, "reply_draft", lambda **kw: drafting.Draft(text="亲，有XL的～", usage_record_ids=()))
    answered_before = say(world, SHELF_LIFE, buyer="老顾客")
    assert message_process(message_id=answered_before.pk, force=True).action == "send"
    clock.shift(60)
    repeated = say(world, SHELF_LIFE, buyer="老顾客")  # the same answer again: held for a person
    ignored = say(world, SHELF_LIFE, buyer="坏买家")
    refund = say(world, "我要退款", buyer="退款")
    draft = say(world, "这个有没有XL码的", buyer="问尺码")
    sent = say(world, SHELF_LIFE, buyer="新顾客")
    clock.shift(2)

    with on_commit(execute=True):
        assert message_process(message_id=sent.pk).action == "send"

    assert statuses(repeated, ignored, refund, draft, sent) == ["review", "ignored", "review", "review", "answered"]
    assert Message.objects.get(pk=ignored.pk).status_rule == "blacklist.buyer"
    reasons = {item.message_id: (item.reason, item.draft.text if item.draft else None)
               for item in ReviewItem.objects.all()}
    assert reasons == {repeated.pk: ("outbox.repeated_text", ANSWER), refund.pk: ("intent.refund", None),
                       draft.pk: ("kb.none", "亲，有XL的～")}
    assert OutgoingReply.objects.filter(message__in=[repeated, ignored, refund, draft]).count() == 0
    assert replies_per_line([sent]) == [(1, 1)]
    assert not Message.objects.exclude(lease_owner="").exclude(status="processing").exists()
    assert not Message.objects.filter(status="processing").exists()


def test_a_knowledge_answer_the_safety_check_blocks_goes_to_review(world, clock):
    shop_settings_template_ensure()
    question = "可以加微信吗？"
    knowledge_services.knowledge_item_create(actor=world.superadmin, shop=world.shop, question=question,
                                             answer="加我微信 kefu123 聊", keywords=["微信"])
    auto_send_for(world, question)
    lines = [say(world, question, buyer=f"买家{i}") for i in range(2)]
    clock.shift(2)
    message_process(message_id=lines[0].pk)
    assert statuses(*lines) == ["review", "review"]
    assert {item.reason.split(".")[0] for item in ReviewItem.objects.all()} == {"safety"}
    assert not OutgoingReply.objects.exists()


def test_a_line_that_joins_a_conversation_during_the_batch_is_answered_with_it_once(
    world, faq, clock, monkeypatch
):
    from customer_service.pipeline import decision

    auto_send_for(world, SHELF_LIFE)
    decided = []
    real_decide = decision.message_decide

    def buyer_types_while_deciding(*, message, text, now=None):
        decided.append((message.conversation.buyer_id, text))
        if len(decided) == 1:
            say(world, "冷藏的", buyer=message.conversation.buyer_id)  # committed before the batch writes
        return real_decide(message=message, text=text, now=now)

    monkeypatch.setattr(decision, "message_decide", buyer_types_while_deciding)
    first = say(world, SHELF_LIFE, buyer="甲")
    other = say(world, SHELF_LIFE, buyer="乙")
    clock.shift(2)

    assert message_process(message_id=other.pk).action == "send"

    late = Message.objects.get(content="冷藏的")
    assert statuses(first, late, other) == ["new", "new", "answered"]  # the first line was given back
    assert Message.objects.get(pk=first.pk).status_rule == "burst.grew"
    assert not Reply.objects.filter(message__in=[first, late]).exists()
    clock.shift(2)
    assert message_process(message_id=first.pk).action == "superseded"  # the late line's task answers both
    assert message_process(message_id=late.pk).action == "send"
    assert decided[-1] == ("甲", burst_text([SHELF_LIFE, "冷藏的"]))
    assert statuses(first, late) == ["answered", "answered"]
    assert Reply.objects.filter(message__conversation_id=first.conversation_id).count() == 1
    assert OutgoingReply.objects.filter(conversation_id=first.conversation_id).get().message_id == late.pk
    assert Message.objects.get(pk=first.pk).burst_head_id == late.pk


def test_a_batch_line_a_later_lines_task_took_back_is_not_written(world, faq, clock, monkeypatch):
    from customer_service.pipeline import decision

    auto_send_for(world, SHELF_LIFE)
    real_decide = decision.message_decide
    seen = []

    def buyer_types_and_its_task_runs(*, message, text, now=None):
        seen.append(text)
        if len(seen) == 1:
            late = say(world, "冷藏的", buyer="甲")
            clock.shift(2)
            # The late line's task (another worker) takes the burst back from the batch and answers both lines.
            assert message_process(message_id=late.pk).action == "send"
        return real_decide(message=message, text=text, now=now)

    monkeypatch.setattr(decision, "message_decide", buyer_types_and_its_task_runs)
    first = say(world, SHELF_LIFE, buyer="甲")
    clock.shift(2)
    message_process(message_id=first.pk)

    assert Reply.objects.count() == 1 and OutgoingReply.objects.count() == 1
    assert OutgoingReply.objects.get().message.content == "冷藏的"
    assert Message.objects.get(pk=first.pk).status == "answered"


def test_each_line_of_a_batch_holds_its_own_lease(world, faq, clock, monkeypatch):
    """A worker that dies mid-batch leaves one-line bursts: the sweep gives each back on its own."""
    auto_send_for(world, SHELF_LIFE)
    lines = [say(world, SHELF_LIFE, buyer=f"买家{i}") for i in range(3)]
    clock.shift(2)

    def worker_dies(*args, **kwargs):
        raise SystemExit

    monkeypatch.setattr(batch, "_write_sends", worker_dies)
    with pytest.raises(SystemExit):
        message_process(message_id=lines[0].pk)
    held = list(Message.objects.filter(pk__in=[m.pk for m in lines]).values_list("status", "lease_owner"))
    assert {status for status, _owner in held} == {"processing"}
    assert len({owner for _status, owner in held}) == 3

    monkeypatch.undo()
    clock.shift(processing.LEASE_SECONDS + 1)
    assert message_leases_sweep().released == 3
    assert set(Message.objects.filter(pk__in=[m.pk for m in lines]).values_list("burst_head", flat=True)) == {None}
    message_process(message_id=lines[0].pk)
    assert replies_per_line(lines) == [(1, 1)] * 3


@pytest.mark.django_db(transaction=True)
def test_two_workers_draining_the_same_ready_lines_answer_each_once(world, faq, settings):
    settings.KEFU_PIPELINE_BATCH_SIZE = 5
    shop_settings_template_ensure()
    auto_send_for(world, SHELF_LIFE)
    with time_machine.travel(WEDNESDAY_AFTERNOON, tick=True):
        lines = [say(world, SHELF_LIFE, buyer=f"买家{i}", external_id=f"two-{i}") for i in range(40)]
        # the ingest's own (eager) processing answered already: put the lines back as if it had not run
        OutgoingReply.objects.all().delete()
        Reply.objects.all().delete()
        ready_since = timezone.now() - timedelta(milliseconds=burst_policy_get(shop=world.shop).fragment_window_ms)
        Message.objects.filter(pk__in=[m.pk for m in lines]).update(
            status="new", status_rule="", answered_at=None, received_at=ready_since)
        barrier = threading.Barrier(2)
        outcomes, errors = [], []

        def work(order):
            close_old_connections()
            try:
                barrier.wait()
                for line in order:
                    outcomes.append(message_process(message_id=line.pk).action)
            except Exception as exc:
                errors.append(repr(exc))
            finally:
                connection.close()

        threads = [threading.Thread(target=work, args=(lines,)), threading.Thread(target=work, args=(lines[::-1],))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert statuses(*lines) == ["answered"] * 40
    assert replies_per_line(lines) == [(1, 1)] * 40
    assert Reply.objects.count() == 40 and OutgoingReply.objects.count() == 40
    assert outcomes.count("send") < 40  # most lines were answered by another line's batch
