"""What a person decides about a review item, and what happens when nobody decides in time.

Each step is a conditional update that one of two people (or two beats) acting at once wins; the other
is refused with a 409 (``TransitionRefused``):

1. ``review_item_assign``: who is on a pending item (no status change).
2. ``review_item_approve`` → ``approved``: the draft goes to the outbox as it is.
   ``review_item_edit`` → ``edited``: the person's text goes to the outbox and the conversation's human
   takeover starts. ``review_item_reject`` → ``rejected``: nothing is sent, the note is kept, the message
   is ignored.
3. ``review_deadlines_check`` (beat): an item about to pass its deadline sends the shop's holding reply
   once and raises a ``review_deadline`` alert; a backlog above the shop's limit raises ``review_backlog``.

Opening an item (``review_item_open``) lives in ``services``, below this module: the outbox and the
pipeline open items, and these decisions send through the outbox and start the pipeline's takeover.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Min
from django.utils import timezone
from django.utils.translation import gettext as _

from customer_service.alerts.services import alert_raise, alert_resolve
from customer_service.models import (
    MESSAGE_STATES,
    REVIEW_STATES,
    AlertEvent,
    AlertKind,
    Message,
    MessageStatus,
    OutgoingReply,
    Reply,
    ReplySource,
    ReviewItem,
    ReviewStatus,
    Shop,
    TransitionRefused,
)
from customer_service.outbox.services import outgoing_reply_enqueue
from customer_service.pipeline.services import conversation_takeover_start
from customer_service.shops.selectors import shop_is_workable
from customer_service.suggestions.tasks import knowledge_suggestion_record_task
from kefu.exceptions import KefuError, PermissionDenied

from .services import ReviewSettings, review_settings_get

logger = logging.getLogger(__name__)

APPROVED_RULE = "review.approved"
EDITED_RULE = "review.edited"
REJECTED_RULE = "review.rejected"
HOLDING_RULE = "review.holding"


# -- a person's decision ---------------------------------------------------------------------------------------

def _require_worker(actor, item: ReviewItem) -> None:
    if not shop_is_workable(user=actor, shop=item.shop_id):
        raise PermissionDenied(_("Only the people of this shop may work on its review queue."))


def _clean(model, name: str, value: str) -> str:
    """``value`` as field ``name`` of ``model`` takes it (control characters, length), stripped."""
    value = (value or "").strip()
    field = model._meta.get_field(name)
    try:
        value = field.clean(value, None)
        if field.max_length and len(value) > field.max_length:
            # A TextField's max_length binds forms only; the service holds it for every caller.
            raise ValidationError(_("At most %(max)d characters (it has %(n)d).")
                                  % {"max": field.max_length, "n": len(value)})
        return value
    except ValidationError as exc:
        raise KefuError.from_validation_error(exc, field=name, code="validation_error") from None


@dataclass(frozen=True)
class ReviewOutcome:
    """What a decision did: the item as it is now and the outbox row its reply became (None for a reject)."""

    item: ReviewItem
    outgoing: OutgoingReply | None = None


def _suggest_on_commit(item_id: int) -> None:
    """Once the decision is committed, record what it teaches the knowledge base (a suggestion for the shop
    admin), in a task: a failure there (or a broker out of reach, logged) never fails the decision."""
    transaction.on_commit(lambda: knowledge_suggestion_record_task.delay(item_id), robust=True)


def _decide_and_send(*, actor, item: ReviewItem, text: str, edited: bool) -> ReviewOutcome:
    draft = item.draft
    now = timezone.now()
    status = ReviewStatus.EDITED if edited else ReviewStatus.APPROVED
    with transaction.atomic():
        # 1. The item first: of two people, the second is refused here, before anything is written.
        REVIEW_STATES.transition(
            ReviewItem, pk=item.pk, old=ReviewStatus.PENDING, new=status, reviewer=actor, reviewed_at=now,
            final_text=text, updated_at=now,
        )
        # 2. The reply: a person's, also when it is the draft as proposed. The person who read the draft
        #    vouches for what it states (the AI-only rule on unbacked claims does not apply); every other
        #    pre-send rule does. The draft keeps its own source and usage.
        reply = Reply(
            message_id=item.message_id, text=text, created_by=actor, source=ReplySource.HUMAN,
            rule=EDITED_RULE if edited else APPROVED_RULE,
        )
        if not edited:
            reply.confidence, reply.knowledge_item_id = draft.confidence, draft.knowledge_item_id
            reply.matched_phrasing = draft.matched_phrasing
        reply.save()
        # 3. The outbox: the pre-send check refuses a person's reply with ReplyRefused, which undoes 1 and 2.
        outgoing = outgoing_reply_enqueue(reply=reply, actor=actor)
        if edited:
            conversation_takeover_start(conversation=item.message.conversation, now=now)
        _suggest_on_commit(item.pk)
    return ReviewOutcome(item=ReviewItem.objects.select_related("message", "draft").get(pk=item.pk),
                         outgoing=outgoing)


def review_item_approve(*, actor, item: ReviewItem) -> ReviewOutcome:
    """Send the item's draft as it is: ``pending`` → ``approved``; the message is answered.

    Raises PermissionDenied (not a person of the shop), KefuError ``no_draft`` (nothing to approve: write
    the reply with ``review_item_edit``), TransitionRefused (409: someone decided first, or the message moved
    on), ReplyRefused (the pre-send check or the repeated-text rule; the item stays pending).
    """
    _require_worker(actor, item)
    if item.draft is None or not item.draft.text.strip():
        raise KefuError(_("There is no draft to approve: write the reply and send it as an edit."),
                        code="no_draft")
    return _decide_and_send(actor=actor, item=item, text=item.draft.text.strip(), edited=False)


def review_item_edit(*, actor, item: ReviewItem, text: str) -> ReviewOutcome:
    """Send ``text`` (the draft changed, or a reply written from scratch): ``pending`` → ``edited``; the
    message is answered by the person and the conversation's human takeover starts.

    The draft's own text unchanged is an approval (``approved``, the draft's source kept).
    Raises like ``review_item_approve``, and KefuError for an empty or invalid text.
    """
    _require_worker(actor, item)
    text = _clean(Reply, "text", text)
    if not text:
        raise KefuError(_("Write the reply to send."), code="validation_error",
                        detail={"text": [_("This field may not be blank.")]})
    unchanged = item.draft is not None and item.draft.text.strip() == text
    return _decide_and_send(actor=actor, item=item, text=text, edited=not unchanged)


def review_item_reject(*, actor, item: ReviewItem, note: str = "") -> ReviewOutcome:
    """Send nothing: ``pending`` → ``rejected`` with ``note`` kept; the message (with its burst) is ignored.

    Raises PermissionDenied, KefuError for an invalid note, TransitionRefused (409) when someone decided
    first or the message is no longer in review.
    """
    _require_worker(actor, item)
    note = _clean(ReviewItem, "note", note)
    now = timezone.now()
    with transaction.atomic():
        REVIEW_STATES.transition(
            ReviewItem, pk=item.pk, old=ReviewStatus.PENDING, new=ReviewStatus.REJECTED, reviewer=actor,
            reviewed_at=now, note=note, updated_at=now,
        )
        MESSAGE_STATES.transition(
            Message, pk=item.message_id, old=MessageStatus.REVIEW, new=MessageStatus.IGNORED,
            status_rule=REJECTED_RULE, status_detail=note, handled_by=actor,
        )
        Message.objects.filter(burst_head_id=item.message_id, status=MessageStatus.REVIEW).update(
            status=MessageStatus.IGNORED, status_rule=REJECTED_RULE, handled_by=actor
        )
        _suggest_on_commit(item.pk)
    return ReviewOutcome(item=ReviewItem.objects.select_related("message", "draft").get(pk=item.pk))


def review_item_assign(*, actor, item: ReviewItem, user=None) -> ReviewItem:
    """Put ``user`` (None: nobody) on a pending item. Any person of the shop may take an item or hand it to
    a colleague of the shop; the assignment is who is on it, not who may decide.

    Raises PermissionDenied (``actor`` not of the shop), KefuError ``not_a_member`` (``user`` does not work
    in the shop), TransitionRefused (409) when the item is no longer pending.
    """
    _require_worker(actor, item)
    if user is not None and not shop_is_workable(user=user, shop=item.shop_id):
        raise KefuError(_("%(user)s does not work in this shop.") % {"user": user}, code="not_a_member",
                        detail={"user": [_("Not a person of this shop.")]})
    if ReviewItem.objects.filter(pk=item.pk, status=ReviewStatus.PENDING).update(
        assigned_to=user, updated_at=timezone.now()
    ) != 1:
        current = ReviewItem.objects.filter(pk=item.pk).values_list("status", flat=True).first()
        raise TransitionRefused(
            _("The review item is %(current)s now: someone decided it first.")
            % {"current": ReviewStatus(current).label if current else _("gone")},
            detail={"current": current},
        )
    return ReviewItem.objects.select_related("message", "draft", "assigned_to").get(pk=item.pk)


# -- deadlines and backlog (beat) ------------------------------------------------------------------------------

class _HoldingHeld(Exception):
    """The holding reply did not pass the outbox's checks: undo what the outbox did with it."""

    def __init__(self, reason: str, detail: str):
        super().__init__(reason)
        self.reason, self.detail = reason, detail


def review_item_holding_send(*, item: ReviewItem, settings: ReviewSettings, now=None) -> OutgoingReply | None:
    """Tell the buyer of a pending item about to pass its deadline that someone is on it, once.

    ``holding_sent_at`` is set by a conditional update, so two beats (or two beat processes) send it once.
    The shop's holding reply (empty: none) goes through the outbox with the pre-send check and does not
    answer the message, which stays in review. A holding reply the outbox would hold (a safety rule, or the
    same text as the last reply to this buyer — they have just been told) is not sent and changes nothing
    else. Raises a ``review_deadline`` alert for the shop. Returns the outbox row, or None.
    """
    now = now or timezone.now()
    outgoing, held = None, None
    with transaction.atomic():
        if ReviewItem.objects.filter(
            pk=item.pk, status=ReviewStatus.PENDING, holding_sent_at__isnull=True
        ).update(holding_sent_at=now) != 1:
            return None
        text = settings.holding_reply.strip()
        if text:
            try:
                with transaction.atomic():
                    reply = Reply.objects.create(message_id=item.message_id, source=ReplySource.TEMPLATE,
                                                 text=text, rule=HOLDING_RULE)
                    result = outgoing_reply_enqueue(reply=reply, answers_message=False)
                    if not isinstance(result, OutgoingReply):
                        raise _HoldingHeld(result.reason, result.reason_detail)
                    outgoing = result
            except _HoldingHeld as exc:
                held = exc
        waited = int((now - (item.deadline_at - timedelta(seconds=settings.deadline_seconds))).total_seconds())
        alert_raise(
            kind=AlertKind.REVIEW_DEADLINE, shop=item.shop_id,
            title=_("A buyer is waiting for an answer in review"),
            message=_("Review item %(id)s: the buyer has waited %(seconds)s s; the deadline is %(deadline)s.")
            % {"id": item.pk, "seconds": waited, "deadline": timezone.localtime(item.deadline_at).strftime("%H:%M:%S")},
            detail={"review_item": item.pk, "holding_reply": "sent" if outgoing else ("held" if held else "none"),
                    "held_by": held.reason if held else ""},
        )
    if held is not None:
        logger.info("Holding reply for review item %s held by %s.", item.pk, held.reason)
    return outgoing


@dataclass(frozen=True)
class DeadlineReport:
    holding_sent: int = 0
    deadline_shops: int = 0
    backlog_shops: int = 0


def review_deadlines_check(*, now=None) -> DeadlineReport:
    """One beat: holding replies for items near their deadline, the shops' deadline and backlog alerts.

    1. Per shop with pending items: the items within ``holding_before_seconds`` of their deadline that have
       had no holding reply get one (``review_item_holding_send``). Items already past their deadline by a
       whole deadline period (the beat was down) get none: the buyer has waited too long for "one moment".
    2. ``review_deadline`` resolves for a shop none of whose pending items is near or past its deadline.
    3. ``review_backlog`` is raised while a shop has more pending items than ``backlog_alert``, resolved when
       it has no more.
    """
    now = now or timezone.now()
    sent = deadline_shops = backlog_shops = 0
    pending = {
        row["shop_id"]: row
        for row in ReviewItem.objects.pending().values("shop_id").annotate(n=Count("id"), first=Min("deadline_at"))
    }
    open_alerts = set(
        AlertEvent.objects.filter(
            kind__in=[AlertKind.REVIEW_DEADLINE, AlertKind.REVIEW_BACKLOG], resolved_at__isnull=True,
            shop_id__isnull=False,
        ).values_list("shop_id", "kind")
    )
    shops = Shop.objects.in_bulk(list(pending))
    for shop_id in sorted(set(pending) | {shop_id for shop_id, _kind in open_alerts}):
        row = pending.get(shop_id)
        if row is None:
            for kind in (AlertKind.REVIEW_DEADLINE, AlertKind.REVIEW_BACKLOG):
                if (shop_id, kind) in open_alerts:
                    alert_resolve(kind=kind, shop=shop_id)
            continue
        settings = review_settings_get(shop=shops[shop_id])
        near_at = now + timedelta(seconds=settings.holding_before_seconds)
        if row["first"] <= near_at:
            due = ReviewItem.objects.pending().filter(
                shop_id=shop_id, holding_sent_at__isnull=True, deadline_at__lte=near_at,
                deadline_at__gt=now - timedelta(seconds=settings.deadline_seconds),
            ).order_by("deadline_at", "id")
            for item in due:
                try:
                    sent += review_item_holding_send(item=item, settings=settings, now=now) is not None
                except Exception:  # one item's failure must not stop the others' holding replies
                    logger.exception("Holding reply for review item %s failed.", item.pk)
            deadline_shops += 1
        elif (shop_id, AlertKind.REVIEW_DEADLINE) in open_alerts:
            alert_resolve(kind=AlertKind.REVIEW_DEADLINE, shop=shop_id)
        if row["n"] > settings.backlog_alert:
            backlog_shops += 1
            alert_raise(
                kind=AlertKind.REVIEW_BACKLOG, shop=shop_id, title=_("The review queue is backing up"),
                message=_("%(n)d items wait in review (the limit is %(limit)d).")
                % {"n": row["n"], "limit": settings.backlog_alert},
                detail={"pending": row["n"], "limit": settings.backlog_alert},
            )
        elif (shop_id, AlertKind.REVIEW_BACKLOG) in open_alerts:
            alert_resolve(kind=AlertKind.REVIEW_BACKLOG, shop=shop_id)
    return DeadlineReport(holding_sent=sent, deadline_shops=deadline_shops, backlog_shops=backlog_shops)
