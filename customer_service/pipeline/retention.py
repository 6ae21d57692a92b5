"""Keeping conversations only for each shop's retention period (shop settings ``pipeline.retention_days``)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from customer_service.models import Conversation, Message, MessageStatus, Shop

from .selectors import pipeline_settings_get

logger = logging.getLogger(__name__)

BATCH_SIZE = 500


def _delete_in_batches(queryset, *, batch_size: int) -> int:
    """Delete the rows of ``queryset`` a batch at a time (each batch its own short transaction, so
    writers are never held up for long); returns how many of its rows went."""
    deleted = 0
    while True:
        ids = list(queryset.order_by().values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        with transaction.atomic():
            # The cascade takes the replies, review items and outbox rows with them.
            queryset.model.objects.filter(pk__in=ids).delete()
        deleted += len(ids)


def messages_purge(*, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> dict[str, int]:
    """Delete, per shop, the conversations idle and the messages received before its retention period.

    A conversation without activity since the cutoff goes whole; in a conversation still going, the
    messages older than the cutoff go (a message being processed stays until its worker is done).
    Replies, review items and outbox rows go with their message. Returns counts
    ``{"conversations": n, "messages": n}`` (messages counted outside the conversations deleted whole).
    """
    now = now or timezone.now()
    totals = {"conversations": 0, "messages": 0}
    for shop in Shop.objects.order_by("pk"):
        cutoff = now - timedelta(days=pipeline_settings_get(shop=shop).retention_days)
        idle = Conversation.objects.filter(shop=shop, last_activity_at__lt=cutoff).exclude(
            messages__status=MessageStatus.PROCESSING
        )
        totals["conversations"] += _delete_in_batches(idle, batch_size=max(1, batch_size // 10))
        old = Message.objects.filter(shop=shop, received_at__lt=cutoff).exclude(status=MessageStatus.PROCESSING)
        totals["messages"] += _delete_in_batches(old, batch_size=batch_size)
    if any(totals.values()):
        logger.info("retention: %(conversations)s conversations and %(messages)s messages deleted", totals)
    return totals
