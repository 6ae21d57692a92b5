"""The process task: bursts answered once, claims with leases, each decision acted on, late fragments."""

import threading
from datetime import datetime, timedelta

import pytest
import time_machine
from django.db import close_old_connections, connection
from django.test.utils import CaptureQueriesContext

from configs import services as config_services
from customer_service.models import Conversation, Message, OutgoingReply, Reply, ReviewItem
from customer_service.pipeline import drafting, processing
from customer_service.pipeline.bursts import burst_text
from customer_service.pipeline.processing import message_process
from customer_service.pipeline.services import message_ingest
from knowledge.selectors import knowledge_search
from tests.configs.factories import shop_settings_template_ensure

from .conftest import ANSWER, SHANGHAI, SHELF_LIFE, WEDNESDAY_AFTERNOON

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_indexes")]


def configure(world, **values):
    shop_settings_template_ensure()
    config_services.shop_settings_update(shop=world.shop, actor=world.shop_admin, values=values)


def auto_send_for(world, text):
    """Auto mode with the threshold at the confidence ``text`` gets: that text is answered from the FAQ."""
    c = knowledge_search(shop=world.shop, text=text, k=1)[0].confidence
    configure(world, auto_mode=True, auto_send_threshold=c, draft_threshold=min(c, 0.6))


def say(world, text, *, buyer="小明", external_id=None, direction="buyer"):
    say.n = getattr(say, "n", 0) + 1
    message, _ = message_ingest(shop=world.shop, buyer_id=buyer, content=text, direction=direction,
                                external_id=external_id or f"line-{say.n}")
    return message


def statuses(*messages):
    return [Message.objects.get(pk=m.pk).status for m in messages]


# --- bursts -----------------------------------------------------------------------------------------


def test_fragments_within_the_quiet_window_are_answered_once_with_their_merged_text(world, faq, clock):
    texts = ["在吗", "蛋糕", "能保存几天？"]
    auto_send_for(world, burst_text(texts))
    first = say(world, texts[0])
    clock.shift(0.8)
    second = say(world, texts[1])
    clock.shift(0.8)
    last = say(world, texts[2])

    clock.shift(0.2)  # "能保存几天？" ends a question: answered 350 ms after it
    assert message_process(message_id=first.pk).action == "superseded"  # the last line's task answers
    waiting = message_process(message_id=last.pk)
    assert waiting.action == "wait" and waiting.answer_at == last.received_at + timedelta(milliseconds=350)
    assert statuses(first, second, last) == ["new", "new", "new"]

    clock.shift(0.2)
    done = message_process(message_id=last.pk)
    assert (done.action, done.rule, done.head_id) == ("send", "kb.auto", last.pk)
    reply = Reply.objects.get()
    assert (reply.message_id, reply.text, reply.source) == (last.pk, ANSWER, "kb")
    assert OutgoingReply.objects.get().reply == reply
    assert statuses(first, second, last) == ["answered", "answered", "answered"]
    assert {m.burst_head_id for m in Message.objects.filter(pk__in=[first.pk, second.pk])} == {last.pk}
    assert not Message.objects.exclude(lease_owner="").exists()


def test_a_short_fragment_stretches_the_window(world, faq, clock):
    line = say(world, "这款")
    clock.shift(0.5)
    assert message_process(message_id=line.pk).action == "wait"  # 1.2 s after a fragment
    clock.shift(0.8)
    assert message_process(message_id=line.pk).action != "wait"


def test_a_buyer_who_keeps_typing_is_answered_four_seconds_after_the_first_line(world, faq, clock, on_commit):
    lines = [say(world, "嗯")]
    for _ in range(3):
        clock.shift(1.0)
        lines.append(say(world, "嗯"))  # a fragment every second: each keeps the 1.2 s window open
    clock.shift(0.9)
    assert message_process(message_id=lines[-1].pk).action == "wait"
    clock.shift(0.1)  # 4 s after the first line
    with on_commit(execute=True):
        assert message_process(message_id=lines[-1].pk).action not in ("wait", "none")
    assert statuses(*lines) == ["review"] * 4 and ReviewItem.objects.count() == 1
    assert ReviewItem.objects.get().message_id == lines[-1].pk


def test_a_line_after_the_answer_is_a_burst_of_its_own(world, faq, clock, on_commit):
    auto_send_for(world, SHELF_LIFE)
    first = say(world, SHELF_LIFE)
    clock.shift(1)
    assert message_process(message_id=first.pk).action == "send"
    clock.shift(10)
    second = say(world, "保质期多久？")
    clock.shift(1)
    with on_commit(execute=True):
        message_process(message_id=second.pk)
    assert Message.objects.get(pk=second.pk).burst_head_id is None
    assert Reply.objects.filter(message=second).count() + ReviewItem.objects.filter(message=second).count() == 1


def test_more_lines_than_a_burst_holds_are_answered_in_two_bursts(world, faq, clock, on_commit):
    configure(world, bursts={"max_lines": 3})
    lines = []
    for i in range(5):
        lines.append(say(world, f"第{i}个问题？"))
        clock.shift(0.1)
    with on_commit(execute=True):
        outcome = message_process(message_id=lines[-1].pk)  # the first three are a full burst: at once
    assert outcome.action == "wait"  # for the last two
    assert statuses(*lines) == ["review", "review", "review", "new", "new"]
    clock.shift(1)
    with on_commit(execute=True):
        outcome = message_process(message_id=lines[4].pk)
    assert outcome.head_id == lines[4].pk
    assert ReviewItem.objects.count() == 2
    heads = set(Message.objects.filter(pk__in=[m.pk for m in lines]).values_list("burst_head_id", flat=True))
    assert heads == {lines[2].pk, lines[4].pk, None}


def test_nothing_waiting_is_nothing_to_do(world, clock):
    shop_settings_template_ensure()
    line = say(world, "你好")
    clock.shift(2)
    message_process(message_id=line.pk)
    assert message_process(message_id=line.pk).action == "none"
    assert message_process(message_id=10**9).action == "none"


# --- the decisions, acted on ------------------------------------------------------------------------


def test_a_blacklisted_buyer_is_ignored_with_the_rule_on_every_line(world, clock):
    configure(world, buyer_blacklist=["坏买家"])
    lines = [say(world, "在吗", buyer="坏买家"), say(world, "便宜点", buyer="坏买家")]
    clock.shift(2)
    assert message_process(message_id=lines[-1].pk).action == "ignore"
    for line in Message.objects.filter(pk__in=[m.pk for m in lines]):
        assert (line.status, line.status_rule, line.lease_owner) == ("ignored", "blacklist.buyer", "")
    assert not Reply.objects.exists() and not ReviewItem.objects.exists()


def test_a_refund_goes_to_review_with_its_burst(world, faq, clock):
    first = say(world, "在吗")
    clock.shift(0.5)
    last = say(world, "我要退款")
    clock.shift(2)
    assert message_process(message_id=last.pk).action == "review"
    item = ReviewItem.objects.get()
    assert (item.message_id, item.reason, item.status, item.draft) == (last.pk, "intent.refund", "pending", None)
    assert item.deadline_at == first.received_at + timedelta(seconds=180)  # from the burst's first line
    assert statuses(first, last) == ["review", "review"]
    assert not Message.objects.exclude(lease_owner="").exists()


def test_a_knowledge_answer_the_outbox_holds_puts_its_line_in_review(world, faq, clock):
    auto_send_for(world, SHELF_LIFE)
    first = say(world, SHELF_LIFE)
    assert message_process(message_id=first.pk, force=True).action == "send"
    clock.shift(60)
    again = say(world, SHELF_LIFE)  # the same answer twice in a row: Qianniu warns sellers who repeat themselves

    assert message_process(message_id=again.pk, force=True).action == "send"

    assert statuses(first, again) == ["answered", "review"]
    item = ReviewItem.objects.get(message=again)
    assert (item.reason, item.draft.text) == ("outbox.repeated_text", ANSWER)
    assert OutgoingReply.objects.count() == 1
    assert not Message.objects.exclude(lease_owner="").exists()


def test_a_draft_decision_goes_through_the_llm_queue_to_review(world, clock, monkeypatch, on_commit):
    shop_settings_template_ensure()
    calls = []

    def fake_draft(*, message, text, hits=(), now=None):
        calls.append((message.pk, text))
        return drafting.Draft(text="亲，这款有XL的哦～", usage_record_ids=())

    monkeypatch.setattr(drafting, "reply_draft", fake_draft)
    line = say(world, "这个有没有XL码的")
    clock.shift(2)
    with on_commit(execute=True):
        assert message_process(message_id=line.pk).action == "draft"  # eager: the llm task ran inline
    assert calls == [(line.pk, "这个有没有XL码的")]
    item = ReviewItem.objects.get()
    assert item.reason == "kb.none" and item.draft.text == "亲，这款有XL的哦～" and item.draft.source == "ai"
    assert Message.objects.get(pk=line.pk).status == "review"


def test_a_draft_decision_hands_its_burst_to_the_llm_queue_in_one_statement(world, clock, monkeypatch, on_commit):
    shop_settings_template_ensure()
    line = say(world, "这个有没有XL码的")
    clock.shift(2)
    sent = []
    monkeypatch.setattr(processing.transaction, "on_commit", lambda task, *a, **kw: sent.append(task))
    with CaptureQueriesContext(connection) as queries:
        assert message_process(message_id=line.pk).action == "draft"
    # After the claim, the check that it holds with the lease for the llm queue: no transaction (savepoint)
    statements = [q["sql"] for q in queries.captured_queries]
    claimed = next(n for n, sql in enumerate(statements) if sql.startswith("UPDATE"))
    after_claim = statements[claimed + 1:]
    assert next(sql for sql in after_claim if sql.startswith("UPDATE")).count("NOT EXISTS") == 1
    assert not any(sql.startswith("SAVEPOINT") for sql in after_claim), after_claim
    assert len(sent) == 1 and Message.objects.get(pk=line.pk).status == "processing"


def test_a_draft_that_could_not_be_made_goes_to_review_with_the_error(world, clock, monkeypatch, on_commit):
    shop_settings_template_ensure()
    monkeypatch.setattr(drafting, "reply_draft", lambda **kw: drafting.Draft(
        text="", usage_record_ids=(), error_rule="llm.budget_exhausted", error="The AI budget is used up."))
    line = say(world, "这个有没有XL码的")
    clock.shift(2)
    with on_commit(execute=True):
        message_process(message_id=line.pk)
    item = ReviewItem.objects.get()
    assert (item.reason, item.reason_detail, item.draft) == ("llm.budget_exhausted", "The AI budget is used up.", None)


def test_after_hours_the_away_message_is_sent_once_per_closed_period(world, monkeypatch, on_commit):
    configure(world, pipeline={"away_message": "亲，现在是下班时间，明早9点回复您～"},
              business_hours={"enabled": True, "start": "09:00", "end": "23:00", "days": [1, 2, 3, 4, 5, 6, 7]})
    monkeypatch.setattr(drafting, "reply_draft", lambda **kw: drafting.Draft(text="", usage_record_ids=()))
    night = datetime(2025, 3, 12, 23, 30, tzinfo=SHANGHAI)
    with time_machine.travel(night, tick=False) as clock:
        first = say(world, "还在吗？")
        clock.shift(2)
        with on_commit(execute=True):
            message_process(message_id=first.pk)
        clock.shift(60)
        second = say(world, "有人吗？")
        clock.shift(2)
        with on_commit(execute=True):
            message_process(message_id=second.pk)
    away = OutgoingReply.objects.get()
    assert away.text == "亲，现在是下班时间，明早9点回复您～" and away.reply.rule == "after_hours.away_message"
    assert Conversation.objects.get(pk=first.conversation_id).away_sent_at is not None
    assert statuses(first, second) == ["review", "review"]  # the drafts wait for a person


def test_a_decision_that_fails_puts_the_burst_in_review_at_once(world, clock, monkeypatch):
    shop_settings_template_ensure()
    from customer_service.pipeline import decision

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(decision, "message_decide", broken)
    line = say(world, "你好")
    clock.shift(2)
    assert message_process(message_id=line.pk).action == "error"
    item = ReviewItem.objects.get()
    assert item.reason == "pipeline.error" and "RuntimeError" in item.reason_detail


# --- a line arriving while the reply is being prepared ----------------------------------------------


def test_a_late_fragment_cancels_the_draft_and_the_burst_is_answered_again_with_it(
    world, clock, monkeypatch, on_commit
):
    shop_settings_template_ensure()
    texts = []

    def buyer_types_while_drafting(*, message, text, hits=(), now=None):
        texts.append(text)
        if len(texts) == 1:
            clock.shift(3)  # the LLM takes its time; the buyer adds a line meanwhile
            say(world, "要黑色的")
        return drafting.Draft(text=f"草稿{len(texts)}", usage_record_ids=())

    monkeypatch.setattr(drafting, "reply_draft", buyer_types_while_drafting)
    first = say(world, "这个有没有XL码的")
    clock.shift(2)
    with on_commit(execute=True):
        message_process(message_id=first.pk)  # eager: the draft, the cancel and the second round run inline
    assert texts == ["这个有没有XL码的", "这个有没有XL码的，要黑色的"]
    item = ReviewItem.objects.get()
    assert item.draft.text == "草稿2"
    assert Reply.objects.count() == 1  # the first draft was discarded, never stored
    late = Message.objects.get(content="要黑色的")
    assert item.message_id == late.pk
    assert statuses(first, late) == ["review", "review"]


def test_a_line_that_arrives_while_a_knowledge_answer_is_decided_joins_the_burst(world, faq, clock, monkeypatch):
    from customer_service.pipeline import decision

    auto_send_for(world, SHELF_LIFE)
    decided = []
    real_decide = decision.message_decide

    def buyer_types_while_deciding(*, message, text, now=None):
        decided.append(text)
        if len(decided) == 1:
            say(world, "冷藏的")  # committed before the answer is written
        return real_decide(message=message, text=text, now=now)

    monkeypatch.setattr(decision, "message_decide", buyer_types_while_deciding)
    first = say(world, SHELF_LIFE)
    clock.shift(2)
    message_process(message_id=first.pk, force=True)

    assert decided == [SHELF_LIFE, burst_text([SHELF_LIFE, "冷藏的"])]  # the first answer was never written
    late = Message.objects.get(content="冷藏的")
    assert Reply.objects.get().message_id == late.pk
    assert Message.objects.get(pk=first.pk).burst_head_id == late.pk
    assert statuses(first, late)[0] == statuses(first, late)[1] != "processing"


def test_a_worker_whose_burst_was_taken_back_discards_its_outcome(world, clock):
    shop_settings_template_ensure()
    first = say(world, "这个有没有XL码的")
    clock.shift(2)
    lines = processing._unanswered(first.conversation_id)
    claim = processing._claim(lines, full=False, now=processing.timezone.now(), seen_id=first.pk)
    # Another worker took the burst back (a later line) or the sweep released it after the lease ran out.
    processing._release(owner=claim.owner)
    assert processing.message_draft_finish(head_id=first.pk, owner=claim.owner, text="x",
                                           decision={"action": "draft", "rule": "kb.none"}) == "lost"
    with pytest.raises(processing._ClaimLost):
        processing._write(claim, lambda: pytest.fail("written without the claim"), now=processing.timezone.now())
    assert Message.objects.get(pk=first.pk).status == "new"


def test_a_burst_handed_to_the_llm_queue_is_leased_for_the_wait_and_the_call(
    world, clock, django_capture_on_commit_callbacks
):
    from customer_service.pipeline.selectors import pipeline_settings_get

    shop_settings_template_ensure()
    line = say(world, "这个有没有XL码的")
    clock.shift(2)
    with django_capture_on_commit_callbacks() as handed_over:  # the llm task is not run
        outcome = message_process(message_id=line.pk, force=True)
    assert outcome.action == "draft" and len(handed_over) == 1
    line.refresh_from_db()
    budget = pipeline_settings_get(shop=world.shop).llm_time_budget_seconds
    wait_and_call = timedelta(seconds=budget + processing.LLM_QUEUE_SECONDS)
    assert line.status == "processing" and line.lease_until == processing.timezone.now() + wait_and_call


@pytest.mark.parametrize("full", [True, False])
def test_a_waiting_line_older_than_the_head_grows_the_burst(world, clock, full):
    """A line another worker held when this one read the conversation, given back since: this burst's
    outcome is not written, and every line is answered together."""
    shop_settings_template_ensure()
    older = say(world, "这个有没有XL码的")
    clock.shift(1)
    head = say(world, "黑色的")
    clock.shift(2)
    lines = [line for line in processing._unanswered(head.conversation_id) if line.pk == head.pk]
    claim = processing._claim(lines, full=full, now=processing.timezone.now(), seen_id=head.pk)
    with pytest.raises(processing._BurstGrew):
        processing._write(claim, lambda: pytest.fail("written without the older line"), now=processing.timezone.now())
    assert statuses(older, head) == ["new", "new"]


@pytest.mark.django_db(transaction=True)
def test_many_threads_processing_one_conversation_give_exactly_one_reply(world, faq):
    shop_settings_template_ensure()
    auto_send_for(world, SHELF_LIFE)
    with time_machine.travel(WEDNESDAY_AFTERNOON, tick=True):
        lines = [say(world, "在吗", external_id="t-1"), say(world, SHELF_LIFE, external_id="t-2")]
        # the ingest's own (eager) processing answered already: put the lines back as if it had not run
        Message.objects.filter(pk__in=[m.pk for m in lines]).update(status="new", burst_head=None)
        OutgoingReply.objects.all().delete()
        Reply.objects.all().delete()
        barrier = threading.Barrier(6)
        outcomes, errors = [], []

        def work():
            close_old_connections()
            try:
                barrier.wait()
                outcomes.append(message_process(message_id=lines[0].pk, force=True).action)
            except Exception as exc:
                errors.append(repr(exc))
            finally:
                connection.close()

        threads = [threading.Thread(target=work) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert Reply.objects.count() == 1 and OutgoingReply.objects.count() == 1
    assert statuses(*lines) == ["answered", "answered"]
    assert outcomes.count("send") == 1


# --- a burst waiting in review when the buyer writes more -------------------------------------------


def test_a_line_after_a_burst_in_review_joins_it_and_the_item_is_answered_again(world, clock, on_commit):
    shop_settings_template_ensure()
    first = say(world, "在吗")
    clock.shift(0.5)
    refund = say(world, "我要退款")
    clock.shift(2)
    message_process(message_id=refund.pk)
    old_item = ReviewItem.objects.get()
    clock.shift(30)  # nobody has answered yet; the buyer adds the order number
    more = say(world, "订单号是123456。")
    clock.shift(1)
    with on_commit(execute=True):
        assert message_process(message_id=more.pk).action == "review"
    old_item.refresh_from_db()
    assert old_item.status == "expired"
    item = ReviewItem.objects.get(status="pending")
    assert (item.message_id, item.reason) == (more.pk, "intent.refund")
    assert item.deadline_at == first.received_at + timedelta(seconds=180)  # still from the first line
    assert statuses(first, refund, more) == ["review", "review", "review"]
    assert {m.burst_head_id for m in Message.objects.filter(pk__in=[first.pk, refund.pk])} == {more.pk}


def test_a_message_a_person_sent_to_review_stays_with_them(world, clock, on_commit):
    from customer_service.pipeline.services import message_review_request

    shop_settings_template_ensure()
    configure(world, buyer_blacklist=["小明"])
    line = say(world, "在吗")
    clock.shift(2)
    message_process(message_id=line.pk)  # ignored: blacklisted
    manual = message_review_request(actor=world.agent, message=Message.objects.get(pk=line.pk))
    clock.shift(30)
    more = say(world, "你好？")
    clock.shift(2)
    message_process(message_id=more.pk)
    manual.refresh_from_db()
    assert manual.status == "pending" and Message.objects.get(pk=line.pk).status == "review"
    assert Message.objects.get(pk=more.pk).burst_head_id is None


def test_a_review_item_a_person_decided_first_is_not_taken_back(world, clock):
    shop_settings_template_ensure()
    refund = say(world, "我要退款")
    clock.shift(2)
    message_process(message_id=refund.pk)
    item = ReviewItem.objects.get()
    clock.shift(30)
    more = say(world, "快点处理。")
    lines, before = processing._waiting_and_before(more.conversation_id)
    item_id, in_review = processing._review_to_reopen(lines, before)
    assert (item_id, [line.pk for line in in_review]) == (item.pk, [refund.pk])
    ReviewItem.objects.filter(pk=item.pk).update(status="rejected")  # the person was first
    assert processing._claim([*in_review, *lines], full=False, now=processing.timezone.now(), seen_id=more.pk,
                             reopen_item_id=item_id) is None
    assert statuses(refund, more) == ["review", "new"]
    clock.shift(2)
    message_process(message_id=more.pk)
    assert Message.objects.get(pk=more.pk).burst_head_id is None
    assert Message.objects.get(pk=refund.pk).status == "review"



def _separately(conversation_id):
    """The waiting lines and the line ``_review_to_reopen`` looks at, each read on its own."""
    lines = processing._unanswered(conversation_id)
    waiting = [line for line in lines if line.status == "new"]
    before = None
    if waiting:
        before = (Message.objects.filter(conversation_id=conversation_id, direction="buyer",
                                         received_at__lte=waiting[0].received_at)
                  .exclude(status="new").order_by("-received_at", "-id")
                  .values_list("pk", "status", "burst_head_id").first())
    return lines, before


def test_a_task_reads_its_waiting_lines_and_the_burst_before_them_in_one_query(world, clock):
    shop_settings_template_ensure()
    first = say(world, "我要退款")
    clock.shift(2)
    message_process(message_id=first.pk)  # to review: a handoff intent

    def read():
        with CaptureQueriesContext(connection) as queries:
            lines, before = processing._waiting_and_before(first.conversation_id)
        assert len(queries) == 1
        expected_lines, expected_before = _separately(first.conversation_id)
        assert lines == expected_lines
        if not any(line.status == "processing" for line in lines):  # else nothing is reopened: not needed
            assert before == expected_before
        return lines, before

    assert read() == ([], None)
    clock.shift(30)
    second = say(world, "快点")
    clock.shift(0.1)
    third = say(world, "在吗")
    lines, before = read()
    assert [line.pk for line in lines] == [second.pk, third.pk] and before == (first.pk, "review", None)
    Message.objects.filter(pk=second.pk).update(status="processing", lease_owner="other")
    assert [line.pk for line in read()[0]] == [second.pk, third.pk]
    Message.objects.filter(pk=second.pk).update(status="answered", lease_owner="")
    assert read() == ([line for line in lines if line.pk == third.pk], (second.pk, "answered", None))
    Message.objects.filter(pk=second.pk).update(status="review", burst_head_id=first.pk)
    assert read()[1] == (second.pk, "review", first.pk)
