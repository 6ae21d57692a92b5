"""Processing a conversation's waiting buyer lines: one burst, one claim, one decision, one outcome.

How a burst is answered (:func:`message_process`, the ``pipeline.process_message`` task):

0. A task first asks, in one query, whether its conversation has a waiting line no later than its own: most
   find their line answered already (by a batch, or with a later line) and stop there. A task with work
   answers the shop's ready *one-line* questions in one batch (:mod:`.batch`, up to
   ``KEFU_PIPELINE_BATCH_SIZE`` = 32 lines, its own among them when it is one): a buyer line waiting alone in
   its conversation (nothing else of it waiting, being prepared or in review) past its quiet window. The
   lines are read with ``FOR UPDATE SKIP LOCKED`` (two workers take different lines) and claimed with one
   conditional UPDATE, each under a lease of its own (owner
   ``<batch token>-<line id>``, so the sweep and a later line's task see a one-line burst as in 4.), decided
   one by one with the same rules (5.), and the plain knowledge answers that pass the safety check are
   written together (6.): the lines still held and still alone are locked, the buyer's last reply is read
   for the repeated-text hold, then replies and outbox rows go in with two bulk INSERTs and the lines become
   ``answered`` with one UPDATE. A line whose conversation grew meanwhile is given back (its claim released,
   as in 3.); every other outcome (ignore, review, draft, an away message, a safety hit, a repeated text)
   is written by the per-line path below with the line's claim. The steps below then run for the task's
   own conversation when the batch did not answer it.
1. The conversation's unanswered buyer lines — waiting (``new``) and being prepared by a worker
   (``processing``) — are taken in arrival order and cut into bursts of at most ``max_lines`` lines /
   ``max_chars`` characters (the shop's burst policy). The first burst holding a waiting line is the
   one to answer; a full burst that another worker is preparing is left to it.
2. The burst is answered once it is full or its buyer has gone quiet: its latest run of lines (the
   lines that arrived within each other's window, :func:`.bursts.burst_split`) is past its quiet
   window. Until then the task comes back at the answer time.
3. Lines of the burst that another worker is preparing without the new lines are taken back from it
   (its claim released, ``processing → new``): its reply is cancelled and the burst is answered again
   with every line. The worker notices when it writes its outcome (its lease is gone) and discards it.
   Likewise a burst waiting in review that the pipeline put there (no person opened it by hand, the
   outbox held nothing of it) joins the new lines: its item expires and it is answered again with them.
4. The burst's lines are claimed with one conditional UPDATE (``new → processing``, ``review →
   processing`` for a burst taken from review, with its item ``pending → expired``) under a lease with
   a unique owner token; a claim that does not get every line is given back (another worker got
   there first). The latest line becomes the burst's *head*; the others point to it (``burst_head``).
5. ``message_decide`` decides on the burst's merged text (no transaction, no network beyond the
   knowledge search). Ignore, review and send are written at once; a draft goes to the ``llm`` queue
   (:func:`message_draft_finish`), the lease extended by the shop's LLM time budget.
6. Every outcome is written in one transaction that first checks the lease is still this worker's
   (a conditional UPDATE of every line, which also locks them) and that no line arrived meanwhile:
   a waiting line older than the head, or (unless the burst is full) newer than it, means the burst
   grew — the claim is released, the draft discarded, and the burst processed again.

No transaction is ever held across the LLM call. A worker that dies leaves its lines ``processing``
with a lease that runs out: :func:`message_leases_sweep` (beat) gives them back to ``new`` and
processes them again; the third time a burst's lease runs out it goes to review as failed. Buyer
lines whose processing was never enqueued (a process that died between commit and enqueue) are
picked up by the same sweep.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from customer_service.models import (
    MESSAGE_STATES,
    REVIEW_STATES,
    Conversation,
    Message,
    MessageDirection,
    MessageStatus,
    Reply,
    ReplySource,
    ReviewItem,
    ReviewStatus,
    TransitionRefused,
)
from customer_service.outbox.services import outgoing_reply_enqueue
from customer_service.review.services import review_item_open
from kefu.prepared import PreparedRead, PreparedUpdate

from .batch import batch_size, lines_give_back, messages_batch_answer
from .bursts import RULE_BURST_GREW, BurstLine, BurstPolicy, burst_split, burst_status, burst_text
from .selectors import burst_policy_get, pipeline_settings_get

logger = logging.getLogger(__name__)

#: How long a worker holds a burst while deciding on it (the decision takes milliseconds; this only
#: bounds how long a dead worker's lines wait for the sweep).
LEASE_SECONDS = getattr(settings, "KEFU_PIPELINE_LEASE_SECONDS", 60)
#: On top of the shop's LLM time budget: how long a draft may wait on the ``llm`` queue.
LLM_QUEUE_SECONDS = getattr(settings, "KEFU_PIPELINE_LLM_QUEUE_SECONDS", 120)
#: A burst whose lease ran out this many times goes to review as failed.
MAX_ATTEMPTS = 3
#: Waiting lines this old with nothing processing them were never enqueued (or their task was lost).
STALE_NEW_SECONDS = getattr(settings, "KEFU_PIPELINE_STALE_NEW_SECONDS", 60)
#: Bursts processed in one task before it hands over to a fresh one.
MAX_ROUNDS = 8
#: Unanswered lines read per conversation: far more than a burst, far less than a flood.
READ_LIMIT = 200

RULE_ERROR = "pipeline.error"
RULE_FAILED = "pipeline.failed"
RULE_LEASE_EXPIRED = "pipeline.lease_expired"
RULE_AWAY = "after_hours.away_message"
RULE_MANUAL_REVIEW = "manual"
#: Review items that stay with their person when the buyer writes more (the outbox held a reply that may
#: have reached the buyer).
NOT_REOPENED_PREFIXES = ("outbox.",)

ACTIONS = ("ignore", "review", "send", "draft")


@dataclass(frozen=True)
class ProcessOutcome:
    """What one call of :func:`message_process` did.

    ``action``: ``"none"`` (nothing waiting), ``"superseded"`` (a later line's task answers the
    conversation), ``"wait"`` (the burst is not ready before ``answer_at``),
    ``"busy"`` (another worker holds the burst), ``"lost"`` (the claim was taken back while deciding),
    or the decision's action (``ignore``, ``review``, ``send``, ``draft``, ``error``). ``head_id``: the
    burst's head when one was decided.
    """

    action: str
    answer_at: datetime | None = None
    head_id: int | None = None
    rule: str = ""
    #: Whether other lines were waiting besides the burst decided (another round may find one ready).
    rest: bool = True


@dataclass
class _Line:
    pk: int
    content: str
    received_at: datetime
    status: str
    lease_owner: str
    status_rule: str
    conversation_id: int

    @property
    def glued(self) -> bool:
        """Being prepared by a worker or a person (in review, not yet answered), or given back because the
        burst grew: it waits for the next line."""
        return self.status in (MessageStatus.PROCESSING, MessageStatus.REVIEW) or (
            self.status == MessageStatus.NEW and self.status_rule == RULE_BURST_GREW
        )


@dataclass(frozen=True)
class Claim:
    """A worker's hold on a burst: its lines (in arrival order, the head last), the lease's owner token,
    whether the burst is full, and the newest line of the conversation seen when it was claimed."""

    owner: str
    line_ids: tuple[int, ...]
    full: bool
    seen_id: int
    texts: tuple[str, ...] = ()
    conversation_id: int | None = None
    #: When the head arrived.
    head_at: datetime | None = None

    @property
    def head_id(self) -> int:
        return self.line_ids[-1]


@dataclass(frozen=True)
class _Burst:
    lines: list[_Line]
    full: bool
    answer_at: datetime

    @property
    def taken(self) -> list[str]:
        """The owners of the burst's lines another worker is preparing a reply for."""
        return sorted({line.lease_owner for line in self.lines if line.status == MessageStatus.PROCESSING})


# Cutting and timing bursts -------------------------------------------------------------------------
def _chunks(lines: Sequence[_Line], policy: BurstPolicy) -> list[tuple[list[_Line], bool]]:
    """``lines`` cut into bursts by size (``max_lines`` / ``max_chars``); each with whether it is full."""
    chunks: list[tuple[list[_Line], bool]] = []
    chunk: list[_Line] = []
    chars = 0
    for line in lines:
        size = len(line.content.strip())
        if chunk and (len(chunk) >= policy.max_lines or chars + size > policy.max_chars):
            chunks.append((chunk, True))
            chunk, chars = [], 0
        chunk.append(line)
        chars += size
    if chunk:
        chunks.append((chunk, len(chunk) >= policy.max_lines or chars >= policy.max_chars))
    return chunks


def _runs(chunk: Sequence[_Line], policy: BurstPolicy) -> list[tuple[list[_Line], datetime]]:
    """The chunk's bursts by time, each with its answer time.

    The quiet window splits the lines (:func:`.bursts.burst_split`); a run whose lines are all being
    prepared, or were given back because the burst grew, joins the run after it: the later lines
    arrived while its reply was prepared, and are answered with it. A joined run is answered when
    its latest part is.
    """
    by_time = burst_split([BurstLine(text=line.content, at=line.received_at) for line in chunk], policy=policy)
    runs: list[tuple[list[_Line], datetime]] = []
    position = 0
    pending: list[_Line] = []
    for part in by_time:
        lines = list(chunk[position:position + len(part)])
        position += len(part)
        status = burst_status(part, policy=policy)
        pending += lines
        if all(line.glued for line in lines) and position < len(chunk):
            continue
        runs.append((pending, status.answer_at if not status.complete else part[-1].at))
        pending = []
    return runs


_LINE_FIELDS = ("pk", "content", "received_at", "status", "lease_owner", "status_rule", "conversation_id")


# The reads every line's task makes: built once per thread (kefu.prepared).
_UNANSWERED_READ = PreparedRead(
    lambda conversation_id: Message.objects.filter(
        conversation_id=conversation_id, direction=MessageDirection.BUYER,
        status__in=(MessageStatus.NEW, MessageStatus.PROCESSING),
    )
    .order_by("received_at", "id")
    .values_list(*_LINE_FIELDS)[:READ_LIMIT]
)
# The waiting lines, with the buyer's latest line before them that was taken up: the one read a task makes
# to find both its burst and a review item to answer again (``_review_to_reopen``).
_WAITING_READ = PreparedRead(
    lambda conversation_id: Message.objects.filter(conversation_id=conversation_id, direction=MessageDirection.BUYER)
    .filter(Q(status__in=(MessageStatus.NEW, MessageStatus.PROCESSING)) | Q(pk=Subquery(
        Message.objects.filter(
            conversation_id=conversation_id, direction=MessageDirection.BUYER,
            received_at__lte=Subquery(
                Message.objects.filter(
                    conversation_id=conversation_id, direction=MessageDirection.BUYER, status=MessageStatus.NEW,
                ).order_by("received_at", "id").values("received_at")[:1]
            ),
        ).exclude(status=MessageStatus.NEW).order_by("-received_at", "-id").values("pk")[:1]
    )))
    .order_by("received_at", "id")
    .values_list(*_LINE_FIELDS, "burst_head_id")[:READ_LIMIT + 1]
)
_TASK_LINE_READ = PreparedRead(
    lambda message_id: Message.objects.select_related("shop", "conversation").filter(pk=message_id).order_by()[:1]
)
_NEWEST_WAITING_READ = PreparedRead(
    lambda message_id: Message.objects.filter(pk=message_id).order_by().annotate(newest=Subquery(
        Message.objects.filter(
            conversation_id=OuterRef("conversation_id"), direction=MessageDirection.BUYER, status=MessageStatus.NEW,
        ).order_by("-id").values("id")[:1]
    )).values_list("newest", flat=True)[:1]
)


def _unanswered(conversation_id: int) -> list[_Line]:
    return [_Line(*row) for row in _UNANSWERED_READ(conversation_id=conversation_id)]


def _waiting_and_before(conversation_id: int) -> tuple[list[_Line], tuple | None]:
    """What ``_unanswered`` reads, and the ``before`` line ``_review_to_reopen`` looks at, in one query."""
    lines, before = [], None
    for *fields, burst_head_id in _WAITING_READ(conversation_id=conversation_id):
        line = _Line(*fields)
        if line.status in (MessageStatus.NEW, MessageStatus.PROCESSING):
            lines.append(line)
        else:
            before = (line.pk, line.status, burst_head_id)
    return lines[:READ_LIMIT], before


def _review_to_reopen(lines: Sequence[_Line], before: tuple | None) -> tuple[int | None, list[_Line]]:
    """The pending review item of the buyer's latest burst before the waiting lines, and that burst's lines,
    when the pipeline put it there: the buyer wrote more before a person answered, so it is answered
    again with the new lines (the item expires). Not an item a person opened by hand, nor one the outbox
    held (its reply may already have reached the buyer). ``lines`` and ``before``: as
    ``_waiting_and_before`` reads them."""
    waiting = [line for line in lines if line.status == MessageStatus.NEW]
    if not waiting or any(line.status == MessageStatus.PROCESSING for line in lines):
        return None, []
    if before is None or before[1] != MessageStatus.REVIEW:
        return None, []
    head_id = before[2] or before[0]
    item = (
        ReviewItem.objects.filter(message_id=head_id, status=ReviewStatus.PENDING)
        .values_list("pk", "reason")
        .first()
    )
    if item is None or item[1] == RULE_MANUAL_REVIEW or item[1].startswith(NOT_REOPENED_PREFIXES):
        return None, []
    rows = (
        Message.objects.filter(Q(pk=head_id) | Q(burst_head_id=head_id), status=MessageStatus.REVIEW)
        .order_by("received_at", "id")
        .values_list(*_LINE_FIELDS)
    )
    return item[0], [_Line(*row) for row in rows]


def _burst_to_answer(lines: Sequence[_Line], policy: BurstPolicy) -> _Burst | None:
    """The first burst that holds a waiting line: its lines, whether it is full, and when it is answered."""
    for chunk, full in _chunks(lines, policy):
        runs = _runs(chunk, policy)
        for index, (run, answer_at) in enumerate(runs):
            if not any(line.status == MessageStatus.NEW for line in run):
                continue
            last_of_full = full and index == len(runs) - 1
            return _Burst(lines=run, full=last_of_full, answer_at=run[-1].received_at if last_of_full else answer_at)
    return None


# Scheduling ----------------------------------------------------------------------------------------
def conversation_schedule(
    *, conversation_id: int, now: datetime | None = None, shop=None, first_line: Message | None = None
) -> datetime | None:
    """Enqueue the processing of the conversation's waiting lines at their burst's answer time.

    Returns that time (None when nothing waits). Called after the commit that recorded a line; ``shop``:
    the conversation's shop when the caller has it (one query less). ``first_line``: the line that opened
    the conversation, when the caller just recorded it: the burst is that line, with nothing to read. A
    line that joined it meanwhile schedules its own task, and the task reads the burst again (a task that
    comes too early waits).
    """
    from .tasks import message_process_task

    now = now or timezone.now()
    if first_line is not None:
        lines = [_Line(*(getattr(first_line, field) for field in _LINE_FIELDS))]
    else:
        lines = _unanswered(conversation_id)
    waiting = [line for line in lines if line.status == MessageStatus.NEW]
    if not waiting:
        return None
    if shop is None:
        shop = Conversation.objects.select_related("shop").get(pk=conversation_id).shop
    burst = _burst_to_answer(lines, burst_policy_get(shop=shop))
    answer_at = burst.answer_at if burst else now
    countdown = max(0.0, (answer_at - now).total_seconds())
    message_process_task.apply_async(args=(waiting[-1].pk,), countdown=countdown)
    return answer_at


# Claims --------------------------------------------------------------------------------------------
def _release(*, owner: str) -> int:
    """Give every line ``owner`` holds back to ``new``: the burst grew, its reply is cancelled and the lines
    wait to be answered with the later ones. Returns how many."""
    released = lines_give_back(Message.objects.filter(lease_owner=owner))
    if released:
        logger.info("claim %s released (%s lines): the burst grew", owner, released)
    return released


_CLAIM_NEW_LINE = PreparedUpdate(lambda pk: Message.objects.filter(pk=pk, status=MessageStatus.NEW))


def _claim(
    chunk: Sequence[_Line], *, full: bool, now: datetime, seen_id: int, reopen_item_id: int | None = None
) -> Claim | None:
    """Claim every line of ``chunk`` at once, or none of them: the waiting lines, and the lines of the
    review item ``reopen_item_id`` (which expires in the same transaction)."""
    assert MESSAGE_STATES.allows(MessageStatus.NEW, MessageStatus.PROCESSING)
    assert MESSAGE_STATES.allows(MessageStatus.REVIEW, MessageStatus.PROCESSING)
    owner = uuid.uuid4().hex
    ids = [line.pk for line in chunk]
    in_review = [line.pk for line in chunk if line.status == MessageStatus.REVIEW]
    lease = {"status": MessageStatus.PROCESSING, "lease_owner": owner,
             "lease_until": now + timedelta(seconds=LEASE_SECONDS), "burst_head": None}
    if len(ids) == 1 and not in_review:
        # One conditional UPDATE is atomic on its own: no transaction to open and close.
        if not _CLAIM_NEW_LINE.update(where={"pk": ids[0]}, values=lease):
            return None
        return _claim_of(chunk, owner=owner, full=full, seen_id=seen_id)
    with transaction.atomic():
        claimed = 0
        if in_review:
            if reopen_item_id is None:
                return None
            try:
                REVIEW_STATES.transition(ReviewItem, pk=reopen_item_id, old=ReviewStatus.PENDING,
                                         new=ReviewStatus.EXPIRED, note=_("The buyer wrote more: answered again."))
            except TransitionRefused:
                return None  # a person acted on it first
            claimed += Message.objects.filter(pk__in=in_review, status=MessageStatus.REVIEW).update(**lease)
        claimed += Message.objects.filter(
            pk__in=[pk for pk in ids if pk not in in_review], status=MessageStatus.NEW
        ).update(**lease)
        if claimed != len(ids):
            # Another worker took some of these lines: give ours back, theirs will be answered with them.
            transaction.set_rollback(True)
            return None
        if len(ids) > 1:
            Message.objects.filter(pk__in=ids[:-1]).update(burst_head_id=ids[-1])
    return _claim_of(chunk, owner=owner, full=full, seen_id=seen_id)


def _claim_of(chunk: Sequence[_Line], *, owner: str, full: bool, seen_id: int) -> Claim:
    return Claim(owner=owner, line_ids=tuple(line.pk for line in chunk), full=full, seen_id=seen_id,
                 texts=tuple(line.content for line in chunk), conversation_id=chunk[-1].conversation_id,
                 head_at=chunk[-1].received_at)


def _held_lines(claim: Claim):
    return Message.objects.filter(pk__in=claim.line_ids, status=MessageStatus.PROCESSING, lease_owner=claim.owner)


_HOLD_ONE_LINE = PreparedUpdate(
    lambda pk, owner: Message.objects.filter(pk=pk, status=MessageStatus.PROCESSING, lease_owner=owner))


def _hold(claim: Claim, *, until: datetime) -> bool:
    """Whether the claim still holds every line; extends its lease to ``until``. Inside a transaction
    this also locks the lines until it ends (the outcome is written under that lock)."""
    if len(claim.line_ids) == 1:  # as most bursts are: the same statement, prepared
        held = _HOLD_ONE_LINE.update(where={"pk": claim.line_ids[0], "owner": claim.owner},
                                     values={"lease_until": until})
    else:
        held = _held_lines(claim).update(lease_until=until)
    return held == len(claim.line_ids)


def _hold_ungrown(claim: Claim, *, until: datetime) -> str:
    """``"held"`` (as :func:`_hold`, and the burst did not grow), ``"grew"`` (still held, but a line joined
    it) or ``"lost"``. One statement when the claim holds and nothing joined, as is usual.

    The burst grew by a waiting buyer line of its conversation, not one of its own, older than the head (a
    race with another claim) or, the burst not being full, newer than the newest line seen at the claim.

    Written in SQL: every answered burst runs it, and building the ORM's form of this statement took a
    millisecond, longer than the rest of the statement's work.
    """
    ops = connection.ops
    table = ops.quote_name(Message._meta.db_table)
    ids = ", ".join(["%s"] * len(claim.line_ids))
    newer = "" if claim.full else " OR grown.id > %s"
    # Identifiers come from the model's _meta, quoted; every value is a parameter.
    sql = (
        f"UPDATE {table} SET lease_until = %s WHERE id IN ({ids}) AND status = %s AND lease_owner = %s"  # noqa: S608
        f" AND NOT EXISTS (SELECT 1 FROM {table} grown WHERE grown.conversation_id = %s"
        f" AND grown.direction = %s AND grown.status = %s AND (grown.received_at <= %s{newer})"
        f" AND grown.id NOT IN ({ids}))"
    )
    params = [ops.adapt_datetimefield_value(until), *claim.line_ids, MessageStatus.PROCESSING, claim.owner,
              claim.conversation_id, MessageDirection.BUYER, MessageStatus.NEW,
              ops.adapt_datetimefield_value(claim.head_at)]
    if not claim.full:
        params.append(claim.seen_id)
    params += claim.line_ids
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        held = cursor.rowcount
    if held == len(claim.line_ids):
        return "held"
    return "grew" if _hold(claim, until=until) else "lost"


# The burst a claim holds, with its head's shop and conversation: what a draft task reloads, in one read.
_CLAIMED_BURST_READ = PreparedRead(
    lambda owner: Message.objects.select_related("shop", "conversation")
    .filter(status=MessageStatus.PROCESSING, lease_owner=owner)
    .order_by("received_at", "id")
)


def _claim_load(*, head_id: int, owner: str, seen_id: int) -> tuple[Message, Claim] | None:
    """The head and the claim of the burst ``owner`` still holds with ``head_id`` as its head, or None (the
    claim was lost, or the burst is another's now)."""
    rows = _CLAIMED_BURST_READ(owner=owner)
    if not rows or rows[-1].pk != head_id:
        return None
    head = rows[-1]
    lines = [_Line(*(getattr(row, name) for name in _LINE_FIELDS)) for row in rows]
    policy = burst_policy_get(shop=head.shop)
    chars = sum(len(line.content.strip()) for line in lines)
    return head, _claim_of(lines, owner=owner, full=len(lines) >= policy.max_lines or chars >= policy.max_chars,
                           seen_id=seen_id)


# Outcomes ------------------------------------------------------------------------------------------
class _BurstGrew(Exception):
    pass


class _ClaimLost(Exception):
    pass


def _write(claim: Claim, write=None, *, now: datetime, until: datetime | None = None):
    """Run ``write()`` in one transaction, only while the claim holds and the burst did not grow; the lease
    is extended to ``until`` (default: a lease from ``now``). Without ``write``, only the check and the
    lease, one statement that needs no transaction as is usual (the burst held and did not grow).

    Raises :class:`_ClaimLost` (another worker answers it) or :class:`_BurstGrew` (the claim was given
    back: process again).
    """
    until = until or now + timedelta(seconds=LEASE_SECONDS)
    if write is None:
        state = _hold_ungrown(claim, until=until)
        if state == "held":
            return None
    else:
        with transaction.atomic():
            state = _hold_ungrown(claim, until=until)
            if state == "held":
                return write()
    if state == "lost":
        raise _ClaimLost
    # Given back outside the transaction above: raising inside it would roll the release back, and the lines
    # would wait in ``processing`` for the next task to find them taken (or for their lease to end).
    _release(owner=claim.owner)
    raise _BurstGrew


def _finish_lines(claim: Claim, *, status: str, rule: str, detail: str = "") -> None:
    MESSAGE_STATES.transition(
        Message, pk=claim.head_id, old=MessageStatus.PROCESSING, new=status, status_rule=rule,
        status_detail=detail, lease_owner="", lease_until=None,
    )
    Message.objects.filter(pk__in=claim.line_ids[:-1], status=MessageStatus.PROCESSING, lease_owner=claim.owner).update(
        status=status, status_rule=rule, status_detail=detail, lease_owner="", lease_until=None
    )


def _clear_leases(claim: Claim) -> None:
    # The review and outbox services move the fragments with their head; the lease goes with it. A one-line
    # burst has no fragments, and moving its head cleared the head's lease.
    if len(claim.line_ids) == 1:
        return
    Message.objects.filter(pk__in=claim.line_ids, lease_owner=claim.owner).exclude(
        status=MessageStatus.PROCESSING
    ).update(lease_owner="", lease_until=None)


def _to_review(claim: Claim, *, reason: str, detail: str = "", draft: Reply | None = None, head: Message | None = None):
    """``head``: the burst's head as the claim holds it (``processing``), when the caller has it."""
    if head is None:
        head = Message.objects.select_related("shop").get(pk=claim.head_id)
    item = review_item_open(message=head, reason=reason, reason_detail=detail, draft=draft,
                            fragments=len(claim.line_ids) > 1)
    _clear_leases(claim)
    return item


def _send_away_message(claim: Claim, text: str, *, now: datetime) -> None:
    """The shop's away message, once per conversation per closed period (``message_decide`` says when)."""
    head = Message.objects.select_related("shop", "conversation").get(pk=claim.head_id)
    conversation = head.conversation
    if not Conversation.objects.filter(pk=conversation.pk, away_sent_at=conversation.away_sent_at).update(
        away_sent_at=now
    ):
        return  # another worker sent it
    reply = Reply.objects.create(
        message=head, source=ReplySource.TEMPLATE, text=text, rule=RULE_AWAY,
        reason=_("Outside business hours."),
    )
    outgoing_reply_enqueue(reply=reply, answers_message=False)


def _act(claim: Claim, decision, *, head: Message, now: datetime) -> None:
    """Write the outcome of an ignore / review / send decision (inside :func:`_write`)."""
    if decision.action == "ignore":
        _finish_lines(claim, status=MessageStatus.IGNORED, rule=decision.rule, detail=str(decision.reason))
    elif decision.action == "review":
        _to_review(claim, reason=decision.rule, detail=str(decision.reason), head=head)
    elif decision.action == "send":
        reply = Reply.objects.create(
            message=head, source=decision.reply_source or ReplySource.KB, text=decision.reply_text,
            confidence=decision.confidence, knowledge_item_id=decision.knowledge_item_id,
            matched_phrasing=(decision.matched_phrasing or "")[:500], rule=decision.rule, reason=str(decision.reason),
        )
        outgoing_reply_enqueue(reply=reply, fragments=len(claim.line_ids) > 1)
        _clear_leases(claim)
    else:
        raise ValueError(f"unknown decision action {decision.action!r}")
    if decision.away_message:
        _send_away_message(claim, decision.away_message, now=now)


def _decision_payload(decision) -> dict:
    payload = dataclasses.asdict(decision)
    payload["reason"] = str(payload["reason"])
    payload["hits"] = [dict(hit) for hit in decision.hits]
    return payload


def _decision_from_payload(payload: dict):
    from .decision import Decision

    fields = {field.name for field in dataclasses.fields(Decision)}
    values = {name: value for name, value in payload.items() if name in fields}
    values["hits"] = tuple(values.get("hits") or ())
    return Decision(**values)


def _fail(claim: Claim, exc: BaseException, *, now: datetime) -> ProcessOutcome:
    """An unexpected error while deciding: the burst goes to a person rather than waiting for retries."""
    logger.exception("processing burst %s failed", claim.head_id)
    detail = _("Processing failed (%(error)s); a person answers this one.") % {"error": type(exc).__name__}
    try:
        _write(claim, lambda: _to_review(claim, reason=RULE_ERROR, detail=detail), now=now)
    except (_ClaimLost, _BurstGrew):
        return ProcessOutcome("lost", head_id=claim.head_id)
    return ProcessOutcome("error", head_id=claim.head_id, rule=RULE_ERROR)


def _decide_and_act(claim: Claim, *, now: datetime, read: Message | None = None, decision=None) -> ProcessOutcome:
    """``read``: a line of the conversation this task read already (with its shop and conversation): when it
    is the burst's head, it is not read again. ``decision``: the burst's decision when the caller made it."""
    from .decision import message_decide

    if read is not None and read.pk == claim.head_id:
        head = read
        head.status, head.lease_owner = MessageStatus.PROCESSING, claim.owner  # as the claim left it
    else:
        head = Message.objects.select_related("shop", "conversation").get(pk=claim.head_id)
    text = burst_text(claim.texts)
    try:
        if decision is None:
            decision = message_decide(message=head, text=text, now=now)
        if decision.action == "draft":
            budget = pipeline_settings_get(shop=head.shop).llm_time_budget_seconds
            hold_until = timezone.now() + timedelta(seconds=budget + LLM_QUEUE_SECONDS)

            def hand_over():
                _send_away_message(claim, decision.away_message, now=now)

            # The lease covers the wait on the ``llm`` queue and the call's budget.
            _write(claim, hand_over if decision.away_message else None, now=now, until=hold_until)
            from .tasks import message_draft_task

            payload = _decision_payload(decision)
            args = (claim.head_id, claim.owner, text, payload, claim.seen_id)
            transaction.on_commit(lambda: message_draft_task.apply_async(args=args, queue="llm"))
        else:
            _write(claim, lambda: _act(claim, decision, head=head, now=now), now=now)
    except (_ClaimLost, _BurstGrew):
        raise
    except Exception as exc:
        return _fail(claim, exc, now=now)
    return ProcessOutcome(decision.action, head_id=claim.head_id, rule=decision.rule)


def _superseded(message: Message, lines: Sequence[_Line]) -> bool:
    """Whether a buyer line newer than ``message`` waits: its own task answers the conversation."""
    if len(lines) < READ_LIMIT:
        return any(line.status == MessageStatus.NEW and line.pk > message.pk for line in lines)
    return Message.objects.filter(
        conversation_id=message.conversation_id, direction=MessageDirection.BUYER, status=MessageStatus.NEW,
        pk__gt=message.pk,
    ).exists()


def _process_once(
    conversation_id: int, *, now: datetime, force: bool, shop, task_line: Message | None = None
) -> ProcessOutcome:
    """One burst of the conversation. ``task_line``: the line whose task this is, on its first round (a later
    waiting line supersedes it; it is the head of a one-line burst more often than not)."""
    lines, before = _waiting_and_before(conversation_id)
    if task_line is not None and not force and _superseded(task_line, lines):
        # A later line's task answers the conversation (every line enqueues one): this one has nothing to add.
        return ProcessOutcome("superseded")
    if not any(line.status == MessageStatus.NEW for line in lines):
        return ProcessOutcome("none")
    policy = burst_policy_get(shop=shop)
    reopen_item_id, in_review = _review_to_reopen(lines, before)
    burst = _burst_to_answer([*in_review, *lines], policy)
    if not force and now < burst.answer_at:
        return ProcessOutcome("wait", answer_at=burst.answer_at)
    if burst.taken:
        # The buyer wrote more while another worker prepared the reply: cancel it, answer every line.
        for owner in burst.taken:
            _release(owner=owner)
        lines = _unanswered(conversation_id)
        burst = _burst_to_answer(lines, policy)
        if burst is None or burst.taken:
            return ProcessOutcome("busy")
        reopen_item_id = None
    seen_id = max(line.pk for line in lines)
    claim = _claim(burst.lines, full=burst.full, now=now, seen_id=seen_id, reopen_item_id=reopen_item_id)
    if claim is None:
        # Another worker claimed first, or a person acted on the review item first (then: again without it).
        return ProcessOutcome("retry" if reopen_item_id else "busy")
    # Lines that were not waiting when they were read have a task of their own on its way: when this burst
    # held every waiting line, nothing is left for another round of this task.
    rest = len(lines) >= READ_LIMIT or any(
        line.status == MessageStatus.NEW and line.pk not in claim.line_ids for line in lines
    )
    try:
        return dataclasses.replace(_decide_and_act(claim, now=now, read=task_line), rest=rest)
    except _ClaimLost:
        return ProcessOutcome("lost", head_id=claim.head_id)
    except _BurstGrew:
        return ProcessOutcome("grew", head_id=claim.head_id)


def _newest_waiting(message_id: int) -> int | None:
    """The newest waiting buyer line of the conversation ``message_id`` belongs to (None: none waits, or no
    such line)."""
    return next(iter(_NEWEST_WAITING_READ(message_id=message_id)), None)


def _batched_line_act(line: Message, decision, *, now: datetime) -> ProcessOutcome:
    """The per-line path for a line a batch holds and does not answer itself, as its own task would take it."""
    claim = Claim(owner=line.lease_owner, line_ids=(line.pk,), full=False, seen_id=line.pk, texts=(line.content,),
                  conversation_id=line.conversation_id, head_at=line.received_at)
    try:
        return _decide_and_act(claim, now=now, read=line, decision=decision)
    except _ClaimLost:
        return ProcessOutcome("lost", head_id=line.pk)
    except _BurstGrew:
        return ProcessOutcome("grew", head_id=line.pk)


def message_process(*, message_id: int, now: datetime | None = None, force: bool = False) -> ProcessOutcome:
    """Answer the burst of the conversation ``message_id`` belongs to, and any burst after it that is ready.

    Returns ``wait`` (with ``answer_at``) when a burst is not ready: the caller comes back then; else the
    last burst decided here, or why none was (``none``, ``busy``).
    ``force`` answers a burst before its quiet window has passed (no scheduler to come back later,
    e.g. tasks run eagerly). See the module docstring for the steps.
    """
    if not force:
        # Most tasks find their line answered already (by a batch, or with a later line): one query says so.
        newest = _newest_waiting(message_id)
        if newest is None:
            return ProcessOutcome("none")
        if newest > message_id:
            return ProcessOutcome("superseded")
    message = next(iter(_TASK_LINE_READ(message_id=message_id)), None)
    if message is None:
        return ProcessOutcome("none")
    if not force and batch_size() > 0:
        at = now or timezone.now()
        batch = messages_batch_answer(
            shop=message.shop, now=at, lease_until=at + timedelta(seconds=LEASE_SECONDS),
            per_line=lambda line, decision: _batched_line_act(line, decision, now=at),
        )
        if message_id in batch.answered:
            return ProcessOutcome("send", head_id=message_id, rule=batch.answered[message_id], rest=False)
        if message_id in batch.outcomes:
            return batch.outcomes[message_id]
    conversation_id = message.conversation_id
    decided = None
    for round_ in range(MAX_ROUNDS):
        outcome = _process_once(conversation_id, now=now or timezone.now(), force=force, shop=message.shop,
                                task_line=message if round_ == 0 else None)
        if outcome.action in ("wait", "superseded"):
            return outcome
        if outcome.action in ("none", "busy"):
            return decided or outcome
        if outcome.action != "retry":
            decided = outcome
            if not outcome.rest:
                return decided
    # Still more to do: a fresh task carries on.
    conversation_schedule(conversation_id=conversation_id, shop=message.shop)
    return decided


def message_draft_finish(
    *, head_id: int, owner: str, text: str, decision: dict, seen_id: int = 0, now: datetime | None = None
) -> str:
    """The ``llm`` queue's half of a draft decision: ask for the draft, then put it in review.

    Runs only while ``owner`` still holds the burst; the LLM call (``reply_draft``) is made outside any
    transaction. If the buyer wrote more meanwhile, the draft is discarded and the burst processed
    again with every line. Returns ``"review"``, ``"lost"`` or ``"grew"``.
    """
    from customer_service.alerts.checks import alert_providers_outcome

    from .drafting import ERROR_FAILED, reply_draft

    loaded = _claim_load(head_id=head_id, owner=owner, seen_id=seen_id or head_id)
    if loaded is None:
        return "lost"
    head, claim = loaded
    decided = _decision_from_payload(decision)
    budget = pipeline_settings_get(shop=head.shop).llm_time_budget_seconds
    if not _hold(claim, until=timezone.now() + timedelta(seconds=budget + LEASE_SECONDS)):
        return "lost"
    try:
        draft = reply_draft(message=head, text=text, hits=decided.hits, now=now)
    except Exception as exc:
        _fail(claim, exc, now=timezone.now())
        return "review"
    if draft.text or draft.error_rule == ERROR_FAILED:  # every provider failing raises providers_down; a draft ends it
        alert_providers_outcome(shop=head.shop, all_failed=not draft.text, error=draft.error)

    def write():
        if draft.text:
            reply = Reply.objects.create(
                message=head, source=ReplySource.AI, text=draft.text, confidence=decided.confidence,
                knowledge_item_id=decided.knowledge_item_id, matched_phrasing=(decided.matched_phrasing or "")[:500],
                rule=decided.rule, reason=str(decided.reason),
            )
            reply.usage_records.add(*draft.usage_record_ids)
            _to_review(claim, reason=decided.rule, detail=str(decided.reason), draft=reply, head=head)
        else:
            _to_review(claim, reason=draft.error_rule or decided.rule, detail=draft.error or str(decided.reason),
                       head=head)

    try:
        _write(claim, write, now=timezone.now())
    except _ClaimLost:
        return "lost"
    except _BurstGrew:
        conversation_schedule(conversation_id=head.conversation_id)
        return "grew"
    return "review"


# Crash safety --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepResult:
    released: int = 0
    failed: int = 0
    rescheduled: int = 0


def message_leases_sweep(*, now: datetime | None = None, limit: int = 500) -> SweepResult:
    """Recover bursts whose worker died, and buyer lines nobody is processing.

    1. A burst whose lease ran out goes back to ``new`` (its attempts counted) and is processed again;
       the ``MAX_ATTEMPTS``-th time, its lines become ``failed`` and go to review with the reason.
    2. Waiting lines older than ``STALE_NEW_SECONDS`` in a conversation with nothing in processing are
       enqueued again (their task was never sent or was lost).
    """
    now = now or timezone.now()
    released = failed = 0
    expired = (
        Message.objects.filter(status=MessageStatus.PROCESSING, lease_until__lt=now)
        .order_by()
        .values("lease_owner")
        .annotate(attempts=Max("attempts"), head=Max("id"))[:limit]
    )
    conversations: set[int] = set()
    for group in expired:
        owner = group["lease_owner"]
        lines = Message.objects.filter(status=MessageStatus.PROCESSING, lease_owner=owner, lease_until__lt=now)
        conversation_ids = set(lines.values_list("conversation_id", flat=True))
        if group["attempts"] + 1 >= MAX_ATTEMPTS:
            failed += _fail_expired(owner=owner, now=now)
        else:
            with transaction.atomic():
                count = lines.update(
                    status=MessageStatus.NEW, status_rule=RULE_LEASE_EXPIRED, lease_owner="", lease_until=None,
                    burst_head=None, attempts=F("attempts") + 1,
                )
            released += count
            conversations |= conversation_ids
    stale = (
        Message.objects.filter(
            direction=MessageDirection.BUYER, status=MessageStatus.NEW,
            received_at__lt=now - timedelta(seconds=STALE_NEW_SECONDS),
        )
        .exclude(conversation__messages__status=MessageStatus.PROCESSING)
        .values_list("conversation_id", flat=True)
        .distinct()[:limit]
    )
    conversations |= set(stale)
    for conversation_id in conversations:
        conversation_schedule(conversation_id=conversation_id)
    if released or failed or conversations:
        logger.info("lease sweep: %s lines released, %s failed, %s conversations rescheduled",
                    released, failed, len(conversations))
    return SweepResult(released=released, failed=failed, rescheduled=len(conversations))


def _fail_expired(*, owner: str, now: datetime) -> int:
    """A burst whose lease ran out for the last time: its lines fail, and its head goes to review."""
    with transaction.atomic():
        ids = list(
            Message.objects.filter(status=MessageStatus.PROCESSING, lease_owner=owner, lease_until__lt=now)
            .order_by("received_at", "id")
            .values_list("pk", flat=True)
        )
        if not ids:
            return 0
        assert MESSAGE_STATES.allows(MessageStatus.PROCESSING, MessageStatus.FAILED)
        detail = _("No worker finished this message after %(n)d attempts.") % {"n": MAX_ATTEMPTS}
        count = Message.objects.filter(pk__in=ids, status=MessageStatus.PROCESSING, lease_owner=owner).update(
            status=MessageStatus.FAILED, status_rule=RULE_LEASE_EXPIRED, status_detail=detail,
            lease_owner="", lease_until=None, attempts=F("attempts") + 1,
        )
        Message.objects.filter(pk__in=ids[:-1]).update(burst_head_id=ids[-1])
        head = Message.objects.select_related("shop").get(pk=ids[-1])
        review_item_open(message=head, reason=RULE_FAILED, reason_detail=detail)  # the fragments go with it
    return count
