"""Queuing a reply for a buyer: the pre-send safety check, the repeated-text hold, then the outbox."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from configs.selectors import shop_settings_get
from customer_service.models import (
    MESSAGE_STATES,
    Message,
    MessageDirection,
    MessageStatus,
    OutgoingReply,
    OutgoingState,
    Reply,
    ReplySource,
    ReviewItem,
)
from customer_service.pipeline.safety import SafetyResult, SafetySettings, safety_check
from customer_service.review.services import review_item_open
from kefu.exceptions import KefuError

REPEATED_TEXT_RULE = "outbox.repeated_text"
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
    return safety_check(
        reply.text if text is None else text,
        settings=settings,
        ai_draft=reply.source == ReplySource.AI,
        context=outgoing_text_context(reply=reply),
    )


def _repeats_last_reply(*, reply: Reply) -> bool:
    last = (
        OutgoingReply.objects.filter(conversation_id=reply.message.conversation_id)
        .exclude(state__in=[OutgoingState.CANCELLED, OutgoingState.REJECTED])
        .order_by("-created_at", "-id")
        .values_list("text", flat=True)
        .first()
    )
    return last is not None and last.strip() == reply.text.strip()


def outgoing_reply_enqueue(
    *, reply: Reply, actor=None, answers_message: bool = True
) -> OutgoingReply | ReviewItem:
    """Queue ``reply`` for its buyer, or hold it for a person.

    Every text passes the pre-send safety check; the same text as the last one sent to this buyer is held
    too (Qianniu warns sellers who repeat themselves). Held automatic replies go to review with the rule
    named and are returned as the review item; a person's reply (``actor`` given) is refused with
    :class:`ReplyRefused` instead, so they can change it. ``answers_message`` is false for a holding reply,
    which is sent while the message stays in review.
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
    with transaction.atomic():
        outgoing = OutgoingReply.objects.create(
            shop_id=message.shop_id, conversation_id=message.conversation_id, message=message, reply=reply,
            text=reply.text,
        )
        if answers_message:
            MESSAGE_STATES.transition(
                Message, pk=message.pk, old=(MessageStatus.PROCESSING, MessageStatus.REVIEW),
                new=MessageStatus.ANSWERED, answered_at=now, handled_by=actor, status_rule=reply.rule,
                lease_owner="", lease_until=None,
            )
            Message.objects.filter(burst_head=message, direction=MessageDirection.BUYER).update(
                status=MessageStatus.ANSWERED, answered_at=now, handled_by=actor
            )
    return outgoing
