"""Answering a shop's ready one-line questions together: step 0 of :mod:`.processing`.

A worker pays per statement and per query it builds far more than per decision. When a process task runs, it
first answers the shop's other *ready* lines that need nothing of the burst machinery — a buyer line waiting
(``new``) alone in its conversation (nothing else of it waiting, being prepared or in review), past its quiet
window, not given back because its burst grew — with a few statements for all of them:

1. **Claim**: the candidates are read and locked (``FOR UPDATE SKIP LOCKED``: two workers take different
   lines), then one conditional UPDATE ``new → processing`` of the lines still alone and waiting, each with its
   own lease owner (``<batch token>-<line id>``: the lease sweep and a later line's task treat it as a one-line
   burst, exactly as if its own task had claimed it); one read of which lines this batch got.
2. **Decide** each line with :func:`.decision.message_decide` (rules unchanged) and check the knowledge
   answer with the outbox's pre-send safety check.
3. **Write** the plain knowledge sends in one transaction: the lines still held by this batch and still
   alone (no line joined their conversation) are locked (``SELECT … FOR UPDATE``); a line that did not hold
   the same text as its buyer's last reply (the outbox's repeated-text hold) gets its reply and outbox row in
   two bulk INSERTs, and all of them become ``answered`` in one UPDATE. A line whose conversation grew
   meanwhile is given back (``processing → new``, rule ``burst.grew``) for the new line's task to answer both;
   a line whose lease was taken is left to whoever took it.
4. Everything else — ignore, review, draft, an away message, a safety hit, a repeated text — goes through
   the per-line path the caller passes in (``per_line``: :mod:`.processing` decides and acts with the line's
   claim), as its own task would.

The lines' own tasks then find nothing waiting and return at the cost of one query.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, Value
from django.db.models.functions import Cast, Concat
from django.db.models.signals import post_save
from django.utils import timezone

from customer_service.models import (
    MESSAGE_STATES,
    Message,
    MessageDirection,
    MessageStatus,
    OutgoingReply,
    Reply,
    ReplySource,
)
from customer_service.outbox.services import outgoing_last_texts, outgoing_text_check, outgoing_text_repeats

from .bursts import RULE_BURST_GREW, BurstLine, burst_status, burst_text
from .selectors import burst_policy_get


def batch_size() -> int:
    """How many ready lines one task answers at most (setting ``KEFU_PIPELINE_BATCH_SIZE``, default 32; 0: no
    batches, every line on its own)."""
    return int(getattr(settings, "KEFU_PIPELINE_BATCH_SIZE", 32))


@dataclass
class BatchResult:
    """``answered``: the lines the batch's bulk write answered, with the rule that decided; ``outcomes``: the
    lines handed to the per-line path, with what it did."""

    answered: dict = field(default_factory=dict)
    outcomes: dict = field(default_factory=dict)


def _not_alone(*statuses):
    """Another buyer line of the same conversation in one of ``statuses``."""
    return Exists(
        Message.objects.filter(
            conversation_id=OuterRef("conversation_id"), direction=MessageDirection.BUYER, status__in=statuses,
        ).exclude(pk=OuterRef("pk"))
    )


_BUSY = (MessageStatus.NEW, MessageStatus.PROCESSING, MessageStatus.REVIEW)


def _alone_waiting():
    return (
        Message.objects.filter(direction=MessageDirection.BUYER, status=MessageStatus.NEW)
        .exclude(status_rule=RULE_BURST_GREW)
        .filter(~_not_alone(*_BUSY))
    )


def messages_batch_answer(
    *, shop, now: datetime, lease_until: datetime, per_line: Callable, limit: int | None = None
) -> BatchResult:
    """Answer up to ``limit`` (default :func:`batch_size`) of ``shop``'s ready lines that are alone in their
    conversation, oldest first (see the module docstring). No transaction is held across anything but the
    database; the knowledge search runs in this process.

    ``lease_until``: the claim's lease. ``per_line(line, decision)``: the per-line path for a line this batch
    holds and does not answer itself (``decision`` None: decide again); returns its outcome.
    """
    limit = batch_size() if limit is None else limit
    result = BatchResult()
    if limit <= 0:
        return result
    policy = burst_policy_get(shop=shop)
    prefix = uuid.uuid4().hex + "-"
    with transaction.atomic():
        # Lines another worker is claiming right now are skipped (PostgreSQL; SQLite's write transaction holds
        # the database): two workers' batches take different lines and never wait on each other's rows.
        candidates = list(
            _alone_waiting()
            .filter(shop=shop, received_at__lte=now - timedelta(milliseconds=policy.base_window_ms))
            .select_related("conversation")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("id")[:limit]
        )
        ready = [
            line for line in candidates
            if burst_status([BurstLine(text=line.content, at=line.received_at)], policy=policy).answer_at <= now
        ]
        if not ready:
            return result
        assert MESSAGE_STATES.allows(MessageStatus.NEW, MessageStatus.PROCESSING)
        claimed = _alone_waiting().filter(pk__in=[line.pk for line in ready]).update(
            status=MessageStatus.PROCESSING,
            lease_owner=Concat(Value(prefix), Cast("pk", output_field=CharField())),
            lease_until=lease_until, burst_head=None,
        )
    if not claimed:
        return result
    if claimed == len(ready):
        held = {line.pk for line in ready}
    else:
        held = set(Message.objects.filter(pk__in=[line.pk for line in ready], lease_owner__startswith=prefix)
                   .order_by().values_list("pk", flat=True))
    lines = [line for line in ready if line.pk in held]
    sends, others = [], []
    for line in lines:
        line.shop = shop
        line.status, line.lease_owner = MessageStatus.PROCESSING, prefix + str(line.pk)
        decision = _decide(line, now=now)
        if decision is not None and decision.action == "send" and not decision.away_message:
            reply = Reply(
                message=line, source=decision.reply_source or ReplySource.KB, text=decision.reply_text,
                confidence=decision.confidence, knowledge_item_id=decision.knowledge_item_id,
                matched_phrasing=(decision.matched_phrasing or "")[:500], rule=decision.rule,
                reason=str(decision.reason),
            )
            if outgoing_text_check(reply=reply).ok:
                sends.append((line, reply))
                continue
        others.append((line, decision))
    written, repeated = _write_sends(sends, prefix=prefix)
    result.answered = {line.pk: reply.rule for line, reply in sends if line.pk in written}
    others += [(line, None) for line, _reply in sends if line.pk in repeated]
    for line, decision in others:
        result.outcomes[line.pk] = per_line(line, decision)
    return result


def lines_give_back(lines) -> int:
    """Give the claimed ``lines`` (those still being prepared) back to waiting, lease cleared, with the rule
    ``burst.grew``: a line joined their burst while its reply was prepared, and they are answered with it. The
    one way a claim is released, by a batch and by :mod:`.processing`. Returns how many."""
    assert MESSAGE_STATES.allows(MessageStatus.PROCESSING, MessageStatus.NEW)
    return lines.filter(status=MessageStatus.PROCESSING).update(
        status=MessageStatus.NEW, status_rule=RULE_BURST_GREW, lease_owner="", lease_until=None, burst_head=None
    )


def _decide(line: Message, *, now: datetime):
    from .decision import message_decide

    try:
        return message_decide(message=line, text=burst_text((line.content,)), now=now)
    except Exception:
        return None  # the per-line path decides again and sends the error to a person


def _write_sends(sends: list[tuple[Message, Reply]], *, prefix: str) -> tuple[set[int], set[int]]:
    """Write the knowledge answers of the lines still held and alone; give back the lines whose conversation
    grew. Returns the lines answered, and the lines held back because their text repeats the buyer's last
    reply (still held)."""
    if not sends:
        return set(), set()
    ids = [line.pk for line, _reply in sends]
    with transaction.atomic():
        # Locks the lines (PostgreSQL; SQLite's write transaction holds the database) while they are written.
        ok = set(
            Message.objects.select_for_update()
            .filter(pk__in=ids, status=MessageStatus.PROCESSING, lease_owner__startswith=prefix)
            .filter(~_not_alone(MessageStatus.NEW))
            .order_by().values_list("pk", flat=True)
        )
        if len(ok) < len(ids):
            # A line joined the conversation: the claim is given back, the new line's task answers both.
            lines_give_back(Message.objects.filter(pk__in=[pk for pk in ids if pk not in ok],
                                                   lease_owner__startswith=prefix))
        sends = [(line, reply) for line, reply in sends if line.pk in ok]
        last_texts = outgoing_last_texts(conversation_ids=[line.conversation_id for line, _reply in sends])
        repeated = {
            line.pk for line, reply in sends if outgoing_text_repeats(reply.text, last_texts.get(line.conversation_id))
        }
        sends = [(line, reply) for line, reply in sends if line.pk not in repeated]
        if not sends:
            return set(), repeated
        replies = Reply.objects.bulk_create([reply for _line, reply in sends])
        outgoing = OutgoingReply.objects.bulk_create([
            OutgoingReply(shop=line.shop, conversation_id=line.conversation_id, message=line, reply=reply,
                          text=reply.text)
            for line, reply in sends
        ])
        assert MESSAGE_STATES.allows(MessageStatus.PROCESSING, MessageStatus.ANSWERED)
        answered_at = timezone.now()
        by_rule: dict[str, list[int]] = {}
        for line, reply in sends:
            by_rule.setdefault(reply.rule, []).append(line.pk)
        for rule, pks in by_rule.items():
            Message.objects.filter(pk__in=pks, status=MessageStatus.PROCESSING, lease_owner__startswith=prefix).update(
                status=MessageStatus.ANSWERED, answered_at=answered_at, handled_by=None, status_rule=rule,
                lease_owner="", lease_until=None,
            )
        # What saving them one by one announces (the desktop hand-over after the commit).
        for model, rows in ((Reply, replies), (OutgoingReply, outgoing)):
            for row in rows:
                post_save.send(sender=model, instance=row, created=True, update_fields=None, raw=False,
                               using=row._state.db)
    return {line.pk for line, _reply in sends}, repeated
