"""Reads of the review queue: the items a person sees, an item's burst and conversation, the operator's desk."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, Min, Prefetch, Q
from django.utils import timezone

from customer_service.models import (
    Message,
    MessageStatus,
    OutgoingReply,
    OutgoingState,
    ReplyTemplate,
    ReviewItem,
    Shop,
)

CONVERSATION_LINES = 30


def review_item_list(*, user):
    """The items of ``user``'s shops with what a queue row shows, oldest deadline first."""
    return (
        ReviewItem.objects.for_user(user)
        .select_related("shop", "message__conversation", "draft__knowledge_item", "assigned_to")
        .prefetch_related(Prefetch("message__burst_fragments", queryset=Message.objects.order_by("received_at", "id")))
        .order_by("deadline_at", "id")
    )


def review_item_burst(*, item: ReviewItem) -> list[Message]:
    """The buyer's lines the item answers: the burst's earlier fragments, then its head, oldest first."""
    fragments = sorted(item.message.burst_fragments.all(), key=lambda m: (m.received_at, m.pk))
    return [*fragments, item.message]


def review_item_buyer_text(*, item: ReviewItem) -> str:
    return "\n".join(line.content for line in review_item_burst(item=item))


def review_item_conversation(*, item: ReviewItem, limit: int = CONVERSATION_LINES) -> list[Message]:
    """The conversation up to the item's message (and any line after it), oldest first: the last ``limit``."""
    lines = Message.objects.filter(conversation_id=item.message.conversation_id).order_by("-received_at", "-id")
    return list(reversed(lines[:limit]))


def reply_templates_for_shop(*, shop) -> dict[str, dict]:
    """``{code: {"title", "text"}}`` of the templates ``shop`` uses: its own win over shared ones of one code."""
    found: dict[str, dict] = {}
    shared_first = F("shop_id").asc(nulls_first=True)
    for template in ReplyTemplate.objects.for_shop(shop).order_by(shared_first, "code"):
        found[template.code] = {"title": template.title, "text": template.text, "shared": template.shop_id is None}
    return dict(sorted(found.items()))


@dataclass(frozen=True)
class DeskRow:
    """One shop on the operator's desk (the admin index)."""

    shop: Shop
    pending: int = 0
    overdue: int = 0
    oldest_waiting_seconds: int | None = None
    messages_today: int = 0
    auto_answered_today: int = 0
    in_review_today: int = 0
    unknown_sends_today: int = 0


def operator_desk(*, user, now=None) -> list[DeskRow]:
    """Per shop of ``user``: the review backlog (pending items, how many are past their deadline, how long the
    oldest has waited since the buyer's line), and today's (Asia/Shanghai) buyer lines, those answered by
    kefu alone, those in review now, and the sends that ended ``unknown``. Four queries, whatever the number
    of shops."""
    now = now or timezone.now()
    shops = list(Shop.objects.for_user(user).order_by("name"))
    if not shops:
        return []
    ids = [shop.pk for shop in shops]
    day_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    backlog = {
        row["shop_id"]: row
        for row in ReviewItem.objects.pending().filter(shop_id__in=ids).values("shop_id").annotate(
            n=Count("id"), overdue=Count("id", filter=Q(deadline_at__lte=now)),
            oldest=Min("message__received_at"),
        )
    }
    today = {
        row["shop_id"]: row
        for row in Message.objects.buyer().filter(shop_id__in=ids, received_at__gte=day_start).values("shop_id")
        .annotate(
            n=Count("id"),
            auto=Count("id", filter=Q(status=MessageStatus.ANSWERED, handled_by__isnull=True)),
            review=Count("id", filter=Q(status=MessageStatus.REVIEW)),
        )
    }
    unknown = dict(
        OutgoingReply.objects.filter(shop_id__in=ids, state=OutgoingState.UNKNOWN, created_at__gte=day_start)
        .values("shop_id").annotate(n=Count("id")).values_list("shop_id", "n")
    )
    rows = []
    for shop in shops:
        waiting, lines = backlog.get(shop.pk, {}), today.get(shop.pk, {})
        oldest = waiting.get("oldest")
        rows.append(DeskRow(
            shop=shop, pending=waiting.get("n", 0), overdue=waiting.get("overdue", 0),
            oldest_waiting_seconds=int((now - oldest).total_seconds()) if oldest else None,
            messages_today=lines.get("n", 0), auto_answered_today=lines.get("auto", 0),
            in_review_today=lines.get("review", 0), unknown_sends_today=unknown.get(shop.pk, 0),
        ))
    return rows
