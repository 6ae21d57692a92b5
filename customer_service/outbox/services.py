"""The outbox: queuing a reply for a buyer (the pre-send safety check, the repeated-text hold), then its
one send.

A row's life, each step a conditional update that one of two racing senders wins:

1. ``outgoing_reply_enqueue`` → ``queued``.
2. ``outgoing_reply_claim`` → ``sending``, by one sender (the desktop worker or a program through the API),
   with a lease. Only a ``queued`` row can be claimed and no edge leads back to ``queued``: a reply is
   sent at most once, ever.
3. ``outgoing_reply_receipt`` → ``confirmed`` (the buyer has it), ``rejected`` (the sender did not send it:
   nothing reached the buyer; a person takes the message over, with the reason) or ``unknown`` (it may or
   may not have reached the buyer). ``unknown`` is final: never sent again on its own; the message goes
   back to a person and an ``unknown_send`` alert is raised.
4. ``outgoing_reply_expire_leases`` (beat) turns a ``sending`` row whose lease ran out into ``unknown``: a
   sender that died mid-send may have sent it.
5. ``outgoing_reply_cancel``: a ``queued`` row is not sent after all; its message goes back to review.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from configs.selectors import shop_settings_get
from customer_service.alerts.services import alert_raise, alert_resolve
from customer_service.models import (
    MESSAGE_STATES,
    OUTBOX_STATES,
    AlertKind,
    Conversation,
    Message,
    MessageDirection,
    MessageStatus,
    OutboxChannel,
    OutgoingReply,
    OutgoingState,
    Reply,
    ReplySource,
    ReviewItem,
    ReviewStatus,
    TransitionRefused,
)
from customer_service.pipeline.safety import SafetyResult, SafetySettings, safety_check
from customer_service.review.services import review_item_open
from customer_service.shops.selectors import shop_is_workable
from kefu.exceptions import Conflict, KefuError, PermissionDenied
from kefu.models import unique_row
from kefu.prepared import PreparedRead
from kefu.validators import validate_no_control_characters

REPEATED_TEXT_RULE = "outbox.repeated_text"
UNKNOWN_RULE = "outbox.unknown"
REJECTED_RULE = "outbox.rejected"
CANCELLED_RULE = "outbox.cancelled"
RECEIPT_RESULTS = (OutgoingState.CONFIRMED, OutgoingState.UNKNOWN, OutgoingState.REJECTED)
CLAIMER_MAX = 128
REASON_MAX = 2000
SAFETY_RULE_PREFIX = "safety."
CONTEXT_MESSAGES = 20


class ReplyRefused(KefuError):
    """A person's reply that may not be sent as it is (a safety rule hit, or the same text again)."""

    code = "reply_refused"
    status_code = 400


def outgoing_text_context(*, reply: Reply) -> list[str]:
    """The texts that establish facts an AI draft may state: the conversation so far and the answer used."""
    lines = list(
        Message.objects.filter(conversation_id=reply.message.conversation_id)
        .order_by("-received_at", "-id")
        .values_list("content", flat=True)[:CONTEXT_MESSAGES]
    )
    if reply.knowledge_item_id is not None:
        lines.append(reply.knowledge_item.answer)
    return lines


def outgoing_text_check(*, reply: Reply, text: str | None = None) -> SafetyResult:
    """The pre-send safety check of ``text`` (default the reply's) under the shop's rules."""
    settings = SafetySettings.from_shop_settings(shop_settings_get(shop=reply.message.shop))
    ai_draft = reply.source == ReplySource.AI
    return safety_check(
        reply.text if text is None else text,
        settings=settings,
        ai_draft=ai_draft,
        # Only an AI draft's claims of fact are checked against the context.
        context=outgoing_text_context(reply=reply) if ai_draft else (),
    )


def _latest_for_buyer(replies):
    """``replies`` that were queued for or sent to the buyer, latest first. Cancelled and rejected replies
    never reached the buyer and do not count."""
    return replies.exclude(state__in=[OutgoingState.CANCELLED, OutgoingState.REJECTED]).order_by("-created_at", "-id")


_LAST_TEXT_READ = PreparedRead(
    lambda conversation_id: _latest_for_buyer(OutgoingReply.objects.filter(conversation_id=conversation_id))
    .values_list("text", flat=True)[:1]
)


def outgoing_last_texts(*, conversation_ids) -> dict[int, str | None]:
    """The text of the last reply queued for or sent to each conversation's buyer (None: none yet), in one
    query."""
    conversation_ids = list(conversation_ids)
    if len(conversation_ids) == 1:
        # The usual case, one burst (every reply queued asks): a plain read, built once per thread.
        texts = _LAST_TEXT_READ(conversation_id=conversation_ids[0])
        return {conversation_ids[0]: next(iter(texts), None)}
    last = _latest_for_buyer(OutgoingReply.objects.filter(conversation_id=OuterRef("pk"))).values("text")[:1]
    return dict(
        Conversation.objects.filter(pk__in=conversation_ids).annotate(last=Subquery(last))
        .order_by().values_list("pk", "last")
    )


def outgoing_text_repeats(text: str, last: str | None) -> bool:
    """Whether ``text`` is the same as ``last``, the buyer's last reply (Qianniu warns sellers who repeat
    themselves)."""
    return last is not None and last.strip() == text.strip()


def _repeats_last_reply(*, reply: Reply) -> bool:
    conversation_id = reply.message.conversation_id
    last = outgoing_last_texts(conversation_ids=[conversation_id]).get(conversation_id)
    return outgoing_text_repeats(reply.text, last)


def outgoing_reply_enqueue(
    *, reply: Reply, actor=None, answers_message: bool = True, fragments: bool = True
) -> OutgoingReply | ReviewItem:
    """Queue ``reply`` for its buyer, or hold it for a person.

    Every text passes the pre-send safety check; the same text as the last one sent to this buyer is held
    too (Qianniu warns sellers who repeat themselves). Held automatic replies go to review with the rule
    named and are returned as the review item; a person's reply (``actor`` given) is refused with
    :class:`ReplyRefused` instead, so they can change it. ``answers_message`` is false for a holding reply,
    which is sent while the message stays in review. ``fragments`` false: the caller knows no earlier line of
    the burst points to this message (nothing to mark answered with it).
    """
    message = reply.message
    result = outgoing_text_check(reply=reply)
    if not result.ok:
        reasons = "; ".join(dict.fromkeys(hit.reason for hit in result.hits))
        if actor is not None:
            raise ReplyRefused(
                _("The reply cannot be sent: %(reasons)s") % {"reasons": reasons},
                code="reply_unsafe", detail={"rules": list(result.codes)},
            )
        return review_item_open(
            message=message, reason=SAFETY_RULE_PREFIX + result.codes[0], reason_detail=reasons, draft=reply
        )
    if _repeats_last_reply(reply=reply):
        if actor is not None:
            raise ReplyRefused(
                _("This is the same text as the last reply to this buyer; Qianniu warns sellers who repeat "
                  "themselves. Change it before sending."),
                code="reply_repeated",
            )
        return review_item_open(
            message=message, reason=REPEATED_TEXT_RULE,
            reason_detail=_("The same text as the last reply to this buyer."), draft=reply,
        )
    now = timezone.now()
    # Inside a caller's transaction no savepoint: a failure here fails the caller's whole write anyway.
    with transaction.atomic(savepoint=False):
        outgoing = OutgoingReply(
            shop_id=message.shop_id, conversation_id=message.conversation_id, message=message, reply=reply,
            text=reply.text,
        )
        if Message.shop.is_cached(message):
            outgoing.shop = message.shop  # the desktop hand-over after the commit uses it as read
        outgoing.save(force_insert=True)
        if answers_message:
            MESSAGE_STATES.transition(
                Message, pk=message.pk, old=(MessageStatus.PROCESSING, MessageStatus.REVIEW),
                new=MessageStatus.ANSWERED, answered_at=now, handled_by=actor, status_rule=reply.rule,
                lease_owner="", lease_until=None,
            )
            if fragments:
                Message.objects.filter(burst_head=message, direction=MessageDirection.BUYER).update(
                    status=MessageStatus.ANSWERED, answered_at=now, handled_by=actor
                )
    return outgoing


# -- sending ---------------------------------------------------------------------------------------------------

def send_lease() -> timedelta:
    """How long a sender may take between its claim and its receipt before the row counts as ``unknown``."""
    return timedelta(seconds=getattr(settings, "KEFU_OUTBOX_SEND_LEASE_SECONDS", 120))


def _require_worker(actor, outgoing: OutgoingReply) -> None:
    """``actor`` None is kefu itself (the desktop worker, a beat task); a person must work in the shop."""
    if actor is not None and not shop_is_workable(user=actor, shop=outgoing.shop_id):
        raise PermissionDenied(_("Only the people of this shop may send or cancel its replies."))


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    try:
        validate_no_control_characters(reason)
    except ValidationError as exc:
        raise KefuError.from_validation_error(exc, field="reason") from None
    if len(reason) > REASON_MAX:
        raise KefuError(_("The reason is longer than %(max)d characters.") % {"max": REASON_MAX},
                        code="validation_error", detail={"reason": [_("Too long.")]})
    return reason


def _reloaded(outgoing: OutgoingReply) -> OutgoingReply:
    return OutgoingReply.objects.select_related("shop", "conversation", "message", "reply").get(pk=outgoing.pk)


def outgoing_reply_claim(*, actor, outgoing: OutgoingReply, channel: str, claimer: str) -> OutgoingReply:
    """Take ``outgoing`` to send it now: ``queued`` → ``sending`` on ``channel`` by ``claimer`` (who sends:
    a desktop worker's name, ``api:<username>``), with a lease of ``send_lease()``.

    Returns the row as claimed. Raises TransitionRefused (409) when someone else claimed it first or it
    is no longer queued (whoever loses a race learns it here, before sending anything),
    PermissionDenied when ``actor`` does not work in its shop, KefuError for a bad channel or claimer.
    """
    _require_worker(actor, outgoing)
    if channel not in OutboxChannel.values:
        choices = ", ".join(OutboxChannel.values)
        raise KefuError(_("Unknown channel %(channel)r.") % {"channel": channel}, code="validation_error",
                        detail={"channel": [_("Not one of: %(values)s.") % {"values": choices}]})
    claimer = str(claimer or "").strip()
    if not claimer or len(claimer) > CLAIMER_MAX:
        raise KefuError(_("Name the sender (1 to %(max)d characters).") % {"max": CLAIMER_MAX},
                        code="validation_error", detail={"claimer": [_("Required, at most %(max)d characters.")
                                                                     % {"max": CLAIMER_MAX}]})
    now = timezone.now()
    OUTBOX_STATES.transition(
        OutgoingReply, pk=outgoing.pk, old=OutgoingState.QUEUED, new=OutgoingState.SENDING,
        channel=channel, claimed_by=claimer, claimed_at=now, lease_until=now + send_lease(), updated_at=now,
    )
    return _reloaded(outgoing)


def outgoing_reply_receipt(*, actor, outgoing: OutgoingReply, result: str, reason: str = "",
                           claimer: str | None = None) -> OutgoingReply:
    """Record what became of a claimed row: ``sending`` → ``confirmed`` | ``unknown`` | ``rejected``.

    ``confirmed``: the buyer has the reply (an open ``unknown_send`` alert of this shop and channel is
    resolved: the sender works again). ``rejected``: the sender did not send it (``reason`` required);
    the message goes back to a person with the reason. ``unknown``: it may have reached the buyer; never
    sent again by kefu: the message goes back to a person and an ``unknown_send`` alert is raised.
    ``claimer`` given: the receipt must come from whoever claimed the row.

    Returns the row. Raises TransitionRefused (409) when the row is not ``sending`` (already receipted, or
    its lease ran out and it was marked ``unknown``), Conflict (409) for another sender's row,
    PermissionDenied, KefuError for a bad result or reason.
    """
    _require_worker(actor, outgoing)
    if result not in RECEIPT_RESULTS:
        raise KefuError(_("A receipt is one of: %(values)s.") % {"values": ", ".join(RECEIPT_RESULTS)},
                        code="validation_error", detail={"result": [_("Not a receipt result.")]})
    reason = _clean_reason(reason)
    if result == OutgoingState.REJECTED and not reason:
        raise KefuError(_("Say why the reply was not sent."), code="validation_error",
                        detail={"reason": [_("Required when the reply is rejected.")]})
    if claimer is not None:
        claimed_by = OutgoingReply.objects.filter(pk=outgoing.pk).values_list("claimed_by", flat=True).first()
        if claimed_by != claimer:
            raise Conflict(_("Another sender claimed this reply; only it can say what became of it."),
                           code="not_claimer")
    now = timezone.now()
    with transaction.atomic():
        OUTBOX_STATES.transition(
            OutgoingReply, pk=outgoing.pk, old=OutgoingState.SENDING, new=result,
            finished_at=now, receipt_reason=reason, lease_until=None, updated_at=now,
        )
        row = _reloaded(outgoing)
        if result == OutgoingState.CONFIRMED:
            alert_resolve(kind=AlertKind.UNKNOWN_SEND, shop=row.shop_id, key=row.channel)
        elif result == OutgoingState.UNKNOWN:
            _unknown_to_person(row)
        else:
            _back_to_person(row, rule=REJECTED_RULE, detail=reason)
    return row


def _back_to_person(row: OutgoingReply, *, rule: str, detail: str) -> ReviewItem:
    """Put the message the row was answering back in front of a person, the row's text as the draft.

    A row sent while the message waited in review (a holding reply) leaves the pending item as it is:
    the person is already on it, with the draft they are deciding about.
    """
    message = Message.objects.select_related("shop").get(pk=row.message_id)
    pending = unique_row(ReviewItem.objects.filter(message=message, status=ReviewStatus.PENDING))
    if pending is not None and message.status == MessageStatus.REVIEW:
        return pending
    return review_item_open(message=message, reason=rule, reason_detail=detail, draft=row.reply)


def _unknown_to_person(row: OutgoingReply) -> None:
    detail = row.receipt_reason or _("The sender could not confirm that the buyer received it.")
    _back_to_person(row, rule=UNKNOWN_RULE, detail=detail)
    alert_raise(
        kind=AlertKind.UNKNOWN_SEND, shop=row.shop_id, key=row.channel,
        title=_("A reply to a buyer may not have been sent"),
        message=_("%(shop)s: a reply to %(buyer)s was sent through the %(channel)s but not confirmed (%(reason)s). "
                  "It is not sent again on its own: check Qianniu and answer from the review queue.")
        % {"shop": row.shop.name, "buyer": row.conversation.buyer_id, "channel": row.get_channel_display(),
           "reason": detail},
        detail={"outgoing_reply": row.pk, "message": row.message_id, "channel": row.channel},
    )


def outgoing_reply_cancel(*, actor, outgoing: OutgoingReply, reason: str = "") -> OutgoingReply:
    """Do not send ``outgoing`` after all: ``queued`` → ``cancelled``; the message it answered goes back to
    review (rule ``outbox.cancelled``), so it is never left without an answer or a person.

    Returns the row. Raises TransitionRefused (409) when a sender claimed it first (too late to cancel),
    PermissionDenied when ``actor`` does not work in its shop.
    """
    _require_worker(actor, outgoing)
    reason = _clean_reason(reason)
    now = timezone.now()
    with transaction.atomic():
        OUTBOX_STATES.transition(
            OutgoingReply, pk=outgoing.pk, old=OutgoingState.QUEUED, new=OutgoingState.CANCELLED,
            finished_at=now, receipt_reason=reason, updated_at=now,
        )
        row = _reloaded(outgoing)
        detail = reason or (_("Cancelled by %(person)s before it was sent.") % {"person": actor.get_username()}
                            if actor is not None else _("Cancelled before it was sent."))
        _back_to_person(row, rule=CANCELLED_RULE, detail=detail)
    return row


def outgoing_reply_expire_leases(*, now=None, limit: int = 500) -> int:
    """Mark ``unknown`` every ``sending`` row whose lease ran out: its sender may have sent it before it
    stopped answering, so it is never put back in the queue. Each goes to a person with an alert.

    Returns how many rows it marked. A receipt that arrives first wins (each row is a conditional update).
    """
    now = now or timezone.now()
    expired = list(
        OutgoingReply.objects.filter(state=OutgoingState.SENDING, lease_until__lt=now)
        .order_by("lease_until").values_list("pk", flat=True)[:limit]
    )
    marked = 0
    for pk in expired:
        try:
            with transaction.atomic():
                OUTBOX_STATES.transition(
                    OutgoingReply, pk=pk, old=OutgoingState.SENDING, new=OutgoingState.UNKNOWN,
                    finished_at=now, lease_until=None, updated_at=now,
                    receipt_reason=_("No receipt from the sender before its lease ran out."),
                )
                _unknown_to_person(_reloaded(OutgoingReply(pk=pk)))
        except TransitionRefused:
            continue  # its receipt came in meanwhile
        marked += 1
    return marked
