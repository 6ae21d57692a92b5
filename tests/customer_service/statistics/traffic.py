"""Generated pipeline traffic for the statistics tests: messages, bursts, replies, reviews, sends and AI usage."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from billing.models import UsageRecord, UsageStatus
from customer_service.models import (
    Message,
    MessageDirection,
    MessageStatus,
    OutgoingState,
    ReplySource,
    ReviewStatus,
)
from tests.billing.factories import AIModelFactory
from tests.customer_service.factories import (
    ConversationFactory,
    MessageFactory,
    OutgoingReplyFactory,
    ReplyFactory,
    ReviewItemFactory,
    ShopFactory,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), tzinfo=SHANGHAI)


def shop_since(first_day: date, **kwargs):
    """A shop that existed before ``first_day`` (days before a shop's creation get no statistics)."""
    return ShopFactory(created_at=local(first_day - timedelta(days=30), 9), **kwargs)


def usage(*, shop, at: datetime, cost: str, model=None):
    return UsageRecord.objects.create(
        shop=shop, created_at=at, day=at.astimezone(SHANGHAI).date(), request_id=f"r{at.timestamp()}",
        model=model or AIModelFactory(), status=UsageStatus.SUCCESS, cost=Decimal(cost),
    )


def generate(*, shops, first_day: date, days: int, seed: int, per_day: int = 14) -> None:
    """Random traffic for ``shops`` over ``days`` local days, with lines near midnight on purpose."""
    rng = random.Random(seed)
    model = AIModelFactory()
    for shop in shops:
        conversations = [ConversationFactory(shop=shop) for _ in range(6)]
        for offset in range(-1, days + 1):  # a day either side: what must not leak into the range
            day = first_day + timedelta(days=offset)
            moments = [local(day, 23, 59, 30), local(day, 0, 0, 10), local(day, 7, 59, 50), local(day, 8, 0, 5)]
            moments += [local(day, rng.randrange(24), rng.randrange(60), rng.randrange(60)) for _ in range(per_day)]
            for at in moments:
                _buyer_line(rng, shop, rng.choice(conversations), at)
            usage(shop=shop, at=local(day, 23, 59, 59), cost=f"0.{rng.randrange(10**6):06d}", model=model)
            usage(shop=shop, at=local(day, 0, 0, 1), cost="0.010000", model=model)


def _buyer_line(rng, shop, conversation, at):
    fate = rng.choice(["auto", "auto", "review", "review", "ignored", "burst", "open", "unknown", "holding"])
    status = {
        "auto": MessageStatus.ANSWERED, "review": MessageStatus.REVIEW, "ignored": MessageStatus.IGNORED,
        "burst": MessageStatus.ANSWERED, "open": MessageStatus.NEW, "unknown": MessageStatus.REVIEW,
        "holding": MessageStatus.REVIEW,
    }[fate]
    line = MessageFactory(shop=shop, conversation=conversation, received_at=at, status=status)
    if fate == "auto":
        reply = ReplyFactory(message=line, source=ReplySource.KB, confidence=0.95)
        OutgoingReplyFactory(reply=reply, state=OutgoingState.CONFIRMED,
                             finished_at=at + timedelta(seconds=rng.choice([5, 90, 179, 181, 900])))
    elif fate == "review":
        outcomes = [ReviewStatus.APPROVED, ReviewStatus.APPROVED, ReviewStatus.EDITED, ReviewStatus.REJECTED,
                    ReviewStatus.PENDING, ReviewStatus.EXPIRED]
        item = ReviewItemFactory(message=line, status=rng.choice(outcomes))
        if item.status != ReviewStatus.PENDING and rng.random() < 0.5:
            # a person's answer read back from the window as a seller line
            MessageFactory(shop=shop, conversation=conversation, direction=MessageDirection.SELLER,
                           received_at=at + timedelta(seconds=rng.choice([60, 200, 4000])))
    elif fate == "burst":
        # two lines 20 s apart: the second (the head) was answered from the knowledge base
        head = MessageFactory(shop=shop, conversation=conversation, received_at=at + timedelta(seconds=20),
                              status=MessageStatus.ANSWERED)
        Message.objects.filter(pk=line.pk).update(burst_head=head)
        reply = ReplyFactory(message=head, source=ReplySource.KB)
        OutgoingReplyFactory(reply=reply, state=OutgoingState.CONFIRMED, finished_at=at + timedelta(seconds=40))
    elif fate == "unknown":
        reply = ReplyFactory(message=line, source=ReplySource.KB)
        OutgoingReplyFactory(reply=reply, state=OutgoingState.UNKNOWN, created_at=at + timedelta(seconds=1))
        ReviewItemFactory(message=line, draft=reply, reason="outbox.unknown")
    elif fate == "holding":
        ReviewItemFactory(message=line)
        holding = ReplyFactory(message=line, source=ReplySource.TEMPLATE)
        OutgoingReplyFactory(reply=holding, state=OutgoingState.CONFIRMED, finished_at=at + timedelta(seconds=150))
