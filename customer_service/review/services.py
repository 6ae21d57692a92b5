"""Putting a buyer's message in front of a person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from configs.selectors import shop_settings_get
from customer_service.models import (
    MESSAGE_STATES,
    Message,
    MessageStatus,
    Reply,
    ReviewItem,
    ReviewStatus,
)


@dataclass(frozen=True)
class ReviewSettings:
    deadline_seconds: int = 180
    holding_before_seconds: int = 45
    holding_reply: str = "亲，稍等，马上为您查询～"
    backlog_alert: int = 20

    @classmethod
    def from_shop_settings(cls, settings) -> ReviewSettings:
        review = settings.get("review") or {}
        return cls(**{name: review[name] for name in cls.__dataclass_fields__ if name in review})


def review_settings_get(*, shop) -> ReviewSettings:
    return ReviewSettings.from_shop_settings(shop_settings_get(shop=shop))


def burst_messages(message: Message):
    """The message and the earlier lines of its burst that its reply answers too."""
    return Message.objects.filter(pk=message.pk) | Message.objects.filter(burst_head=message)


def review_item_open(
    *, message: Message, reason: str, reason_detail: str = "", draft: Reply | None = None
) -> ReviewItem:
    """Put ``message`` (with its burst) in the review queue, because of ``reason`` (a rule code).

    The message moves to ``review`` from wherever the pipeline left it; an item already pending for it is
    kept (its deadline runs from the buyer's first line) and takes the newer reason and draft. The deadline
    counts from the burst's first line, as Qianniu counts its response time.
    """
    settings = review_settings_get(shop=message.shop)
    with transaction.atomic():
        if message.status != MessageStatus.REVIEW:
            MESSAGE_STATES.transition(
                Message, pk=message.pk, old=message.status, new=MessageStatus.REVIEW,
                status_rule=reason, status_detail=reason_detail, lease_owner="", lease_until=None,
            )
            message.status = MessageStatus.REVIEW
        Message.objects.filter(burst_head=message).exclude(status=MessageStatus.REVIEW).update(
            status=MessageStatus.REVIEW, status_rule=reason
        )
        pending = ReviewItem.objects.select_for_update().filter(message=message, status=ReviewStatus.PENDING).first()
        if pending is not None:
            pending.reason, pending.reason_detail = reason, reason_detail
            pending.draft = draft or pending.draft
            pending.save(update_fields=["reason", "reason_detail", "draft", "updated_at"])
            return pending
        first_line_at = burst_messages(message).aggregate(first=Min("received_at"))["first"] or timezone.now()
        return ReviewItem.objects.create(
            shop=message.shop, message=message, draft=draft, reason=reason, reason_detail=reason_detail,
            deadline_at=first_line_at + timedelta(seconds=settings.deadline_seconds),
        )
