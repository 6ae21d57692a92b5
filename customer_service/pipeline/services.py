"""Writes of the reply pipeline that start from outside it: a line comes in, a person takes a message over.

The processing of buyer lines (bursts, decisions, drafts, leases) is in :mod:`.processing`; keeping
messages for the shop's retention period in :mod:`.retention`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from customer_service.models import (
    Conversation,
    Message,
    MessageDirection,
    MessageSource,
    MessageStatus,
    OutgoingReply,
    OutgoingState,
    ReviewItem,
    Shop,
    TransitionRefused,
)
from customer_service.review.services import review_item_open
from customer_service.shops.roles import shop_roles
from kefu.exceptions import KefuError, PermissionDenied, full_clean
from kefu.prepared import PreparedRead

from .selectors import pipeline_settings_get
from .text import normalize

logger = logging.getLogger(__name__)

#: A seller line that repeats what kefu sent this buyer within this time is kefu's own reply read back
#: from the window, not a person typing.
ECHO_WINDOW = timedelta(hours=24)
ECHO_STATES = (OutgoingState.QUEUED, OutgoingState.SENDING, OutgoingState.CONFIRMED, OutgoingState.UNKNOWN)

RULE_SELLER_ECHO = "seller.echo"
RULE_SELLER_TAKEOVER = "seller.takeover"
RULE_MANUAL_REVIEW = "manual"

# Every line the API or the desktop records asks first whether its id is known.
_EXTERNAL_ID_READ = PreparedRead(
    lambda shop_id, external_id: Message.objects.filter(shop_id=shop_id, external_id=external_id).order_by()[:1]
)


def _message_by_external_id(*, shop: Shop, external_id: str) -> Message | None:
    return next(iter(_EXTERNAL_ID_READ(shop_id=shop.pk, external_id=external_id)), None)


def _may_work_in(actor, shop: Shop) -> bool:
    """Whether ``actor`` works this shop's messages: a superadmin, or any member (admin or agent)."""
    return bool(getattr(actor, "is_superadmin", False)) or shop.pk in shop_roles(actor)


def _is_echo(*, conversation: Conversation, content: str, now: datetime) -> bool:
    """Whether ``content`` (a seller line) is a reply kefu itself sent this buyer recently."""
    wanted = normalize(content).text
    recent = OutgoingReply.objects.filter(
        conversation=conversation, state__in=ECHO_STATES, created_at__gte=now - ECHO_WINDOW
    ).values_list("text", flat=True)
    return any(normalize(text).text == wanted for text in recent)


def conversation_takeover_start(*, conversation: Conversation, now: datetime | None = None) -> datetime | None:
    """A person answered this buyer: kefu sends nothing on its own for the shop's takeover period.

    Returns the new ``takeover_until`` (None when the shop's period is 0: takeover is off). A takeover
    already running longer is kept (the update only ever moves the time later).
    """
    now = now or timezone.now()
    minutes = pipeline_settings_get(shop=conversation.shop).takeover_minutes
    if minutes <= 0:
        return None
    until = now + timedelta(minutes=minutes)
    later = Q(takeover_until__isnull=True) | Q(takeover_until__lt=until)
    Conversation.objects.filter(later, pk=conversation.pk).update(takeover_until=until)
    conversation.takeover_until = max(conversation.takeover_until or until, until)
    return until


def _queued_replies_cancel(*, conversation: Conversation) -> int:
    """A person answered this buyer in Qianniu: kefu's replies still waiting to be sent would make two answers.
    Each is cancelled and its message goes back to a person with the reason; a reply a sender has claimed
    already may be on its way and is left to its receipt. Returns how many were cancelled."""
    from customer_service.outbox.services import outgoing_reply_cancel

    cancelled = 0
    for outgoing in OutgoingReply.objects.filter(conversation=conversation, state=OutgoingState.QUEUED):
        try:
            with transaction.atomic():
                outgoing_reply_cancel(actor=None, outgoing=outgoing,
                                      reason=_("A person answered this buyer in Qianniu before it was sent."))
        except TransitionRefused:
            continue  # a sender claimed it first
        cancelled += 1
    return cancelled


_TOUCH_RETURNING = ("id, created_at, updated_at, shop_id, buyer_id, takeover_until, last_activity_at, away_sent_at,"
                    " created_at = %s AS opened")


def _touch_statement() -> str:
    """The conversation's INSERT … SELECT … WHERE NOT EXISTS … ON CONFLICT … (without its RETURNING)."""
    table = connection.ops.quote_name(Conversation._meta.db_table)
    messages = connection.ops.quote_name(Message._meta.db_table)
    # The tables' names come from the models' _meta, quoted; every value is a parameter. The row opened here is
    # the one whose creation time is this line's (a known conversation keeps its own).
    return (
        f"INSERT INTO {table} (created_at, updated_at, shop_id, buyer_id, last_activity_at)"  # noqa: S608
        " SELECT %s, %s, %s, %s, %s"
        f" WHERE NOT EXISTS (SELECT 1 FROM {messages} WHERE shop_id = %s AND external_id = %s)"
        " ON CONFLICT (shop_id, buyer_id) DO UPDATE SET last_activity_at = CASE"
        f" WHEN {table}.last_activity_at < excluded.last_activity_at THEN excluded.last_activity_at"
        f" ELSE {table}.last_activity_at END"
    )


def _touch_params(*, shop: Shop, buyer_id: str, now: datetime, external_id: str) -> list:
    return [now, now, shop.pk, buyer_id, now, shop.pk, external_id]


def _conversation_touch(
    *, shop: Shop, buyer_id: str, now: datetime, external_id: str
) -> tuple[Conversation, bool] | None:
    """The buyer's conversation with its last activity moved forward to ``now``, opened if it is their first
    line; returns ``(conversation, opened)``, or None when the shop has a line with ``external_id`` already
    (then nothing is written). Safe against a concurrent first line of the same buyer.

    One statement (INSERT … SELECT … ON CONFLICT … RETURNING, on PostgreSQL and SQLite alike): every line
    runs it, and a separate read of the external id, ``get_or_create`` and the activity update took a
    round trip each.
    """
    sql = f"{_touch_statement()} RETURNING {_TOUCH_RETURNING}"
    conversation = next(iter(Conversation.objects.raw(
        sql, [*_touch_params(shop=shop, buyer_id=buyer_id, now=now, external_id=external_id), now])), None)
    if conversation is None:
        return None
    conversation.shop = shop
    return conversation, bool(conversation.opened)


@functools.cache
def _buyer_line_statement() -> tuple[tuple, str]:
    """The line's fields the one-statement INSERT writes (all but its id and its conversation, which it takes
    from the conversation it touched), and the statement; built once per process (PostgreSQL only)."""
    quote = connection.ops.quote_name
    fields = tuple(f for f in Message._meta.concrete_fields if not f.primary_key and f.name != "conversation")
    sql = (
        f"WITH touched AS ({_touch_statement()} RETURNING {_TOUCH_RETURNING}),"  # noqa: S608
        f" line AS (INSERT INTO {quote(Message._meta.db_table)}"
        f" ({', '.join(quote(field.column) for field in fields)}, {quote('conversation_id')})"
        f" SELECT {', '.join(['%s'] * len(fields))}, touched.id FROM touched RETURNING id)"
        " SELECT touched.*, line.id AS line_id FROM touched, line"
    )
    return fields, sql


def _buyer_line_record(message: Message, *, buyer_id: str, now: datetime) -> tuple[Conversation, bool]:
    """PostgreSQL, a buyer's line: :func:`_line_record` in one statement (a data-modifying WITH). In autocommit
    that statement is its own transaction, without BEGIN and COMMIT: three round trips fewer than touching,
    inserting and committing. The values are each field's own ``get_db_prep_save`` (what ``save()`` writes).
    Returns ``(conversation, opened)``, ``message`` saved; raises :class:`_KnownLine`.
    """
    fields, sql = _buyer_line_statement()
    values = [field.get_db_prep_save(field.pre_save(message, True), connection) for field in fields]
    params = [*_touch_params(shop=message.shop, buyer_id=buyer_id, now=now, external_id=message.external_id),
              now, *values]
    # A savepoint only inside a caller's transaction, which a failed INSERT must not abort.
    with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
        conversation = next(iter(Conversation.objects.raw(sql, params)), None)
    if conversation is None:
        raise _KnownLine
    conversation.shop = message.shop
    message.conversation = conversation
    message.pk = conversation.line_id
    message._state.adding, message._state.db = False, connection.alias
    return conversation, bool(conversation.opened)


def _schedule(conversation_id: int, shop: Shop, first_line: Message | None = None) -> None:
    """Enqueue the conversation's processing; a broker that cannot be reached leaves the line waiting for
    the lease sweep (it is committed already: the sender must not be told it failed)."""
    from kombu.exceptions import KombuError

    from .processing import conversation_schedule

    try:
        conversation_schedule(conversation_id=conversation_id, shop=shop, first_line=first_line)
    except (KombuError, OSError):
        logger.exception("processing of conversation %s not enqueued; the lease sweep will", conversation_id)


def _line_record(message: Message, *, buyer_id: str, now: datetime) -> tuple[Conversation, bool]:
    """Touch the conversation and save ``message`` in one transaction, with what a seller line does there
    (kefu's echo or a takeover). Returns ``(conversation, opened)``; raises :class:`_KnownLine`."""
    with transaction.atomic():
        touched = _conversation_touch(shop=message.shop, buyer_id=buyer_id, now=now, external_id=message.external_id)
        if touched is None:
            raise _KnownLine
        conversation, opened = touched
        message.conversation = conversation
        if message.direction == MessageDirection.SELLER:
            echo = _is_echo(conversation=conversation, content=message.content, now=now)
            message.status = MessageStatus.IGNORED
            message.status_rule = RULE_SELLER_ECHO if echo else RULE_SELLER_TAKEOVER
        message.save(force_insert=True)
        if message.status_rule == RULE_SELLER_TAKEOVER:
            conversation_takeover_start(conversation=conversation, now=now)
            _queued_replies_cancel(conversation=conversation)
    return conversation, opened


class _KnownLine(Exception):
    """The shop has a line with this external id already: nothing is written."""


def _line_check(message: Message, *, buyer_id: str) -> None:
    """Refuse a line that cannot be recorded (:class:`KefuError`, ``validation_error``, fields named)."""
    # A saved shop is the caller's row: checking that it exists is a query per model for nothing.
    known_shop = ["shop"] if getattr(message.shop, "pk", None) is not None else []
    full_clean(Conversation(shop=message.shop, buyer_id=buyer_id), code="validation_error", exclude=known_shop,
               validate_unique=False, validate_constraints=False)
    if not (message.content or "").strip():
        raise KefuError(_("content: the message is empty."), code="validation_error",
                        detail={"content": [_("The message is empty.")]})
    full_clean(message, code="validation_error", exclude=["conversation", *known_shop], validate_unique=False,
               validate_constraints=False)


def message_ingest(
    *,
    shop: Shop,
    buyer_id: str,
    content: str,
    external_id: str,
    source: str = MessageSource.API,
    direction: str = MessageDirection.BUYER,
    sent_at: datetime | None = None,
    actor=None,
) -> tuple[Message, bool]:
    """Record one line of a conversation; returns ``(message, created)``.

    Idempotent on ``(shop, external_id)``: the same id again returns the first row with ``created``
    false and changes nothing (whatever the content sent the second time), also when two senders race
    with it. ``actor`` is the person sending it (a superadmin or a member of the shop) or None for the
    system (the desktop worker, imports).

    A buyer line is processed after the commit, once its burst's quiet window has passed. A seller line
    is recorded as handled (status ignored): when kefu did not send it (no recent outgoing reply of the
    same text), a person is answering this buyer: the conversation is taken over for the shop's
    takeover period, and kefu's replies to them still queued are cancelled (their messages go back to a
    person).

    Raises :class:`PermissionDenied` for a person outside the shop, :class:`KefuError`
    (``validation_error``) for a line that cannot be recorded. The content is never logged (buyers
    write phone numbers and addresses).
    """
    if actor is not None and not _may_work_in(actor, shop):
        raise PermissionDenied(_("You do not work in this shop."))
    buyer_id = (buyer_id or "").strip()
    external_id = (external_id or "").strip()
    if sent_at is not None and timezone.is_naive(sent_at):
        raise KefuError(_("sent_at: the time needs a time zone."), code="validation_error",
                        detail={"sent_at": [_("The time needs a time zone.")]})

    now = timezone.now()
    message = Message(
        shop=shop, direction=direction, content=content, source=source, external_id=external_id,
        sent_at=sent_at, received_at=now,
    )
    try:
        _line_check(message, buyer_id=buyer_id)
    except KefuError:
        # The same id again is the first line, whatever was sent the second time.
        existing = _message_by_external_id(shop=shop, external_id=external_id) if external_id else None
        if existing is None:
            raise
        return existing, False

    try:
        if direction == MessageDirection.BUYER and connection.vendor == "postgresql":
            conversation, conversation_created = _buyer_line_record(message, buyer_id=buyer_id, now=now)
        else:
            conversation, conversation_created = _line_record(message, buyer_id=buyer_id, now=now)
    except (_KnownLine, IntegrityError):
        # Recorded before, or by another sender at the same time: theirs is the message.
        existing = _message_by_external_id(shop=shop, external_id=external_id)
        if existing is None:
            raise
        return existing, False
    if direction == MessageDirection.BUYER:
        first_line = message if conversation_created else None
        transaction.on_commit(lambda: _schedule(conversation.pk, shop, first_line))
    logger.info("message %s ingested (shop %s, %s, %s)", message.pk, shop.pk, direction, source)
    return message, True


def message_review_request(*, actor, message: Message) -> ReviewItem:
    """A person puts a handled buyer message (answered, ignored or failed) back in front of a person.

    Raises :class:`PermissionDenied` for a person outside the shop, ``TransitionRefused`` (409) for a
    message still being processed or already in review.
    """
    if not _may_work_in(actor, message.shop):
        raise PermissionDenied(_("You do not work in this shop."))
    if message.direction != MessageDirection.BUYER:
        raise KefuError(_("Only a buyer's message can be reviewed."), code="not_a_buyer_message")
    if message.status in (MessageStatus.NEW, MessageStatus.PROCESSING, MessageStatus.REVIEW):
        raise TransitionRefused(
            _("The message is %(status)s: only an answered, ignored or failed message is sent to review.")
            % {"status": message.get_status_display()}
        )
    return review_item_open(
        message=message, reason=RULE_MANUAL_REVIEW,
        reason_detail=_("Sent to review by %(name)s.") % {"name": actor.get_username()},
    )
