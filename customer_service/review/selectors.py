"""Reads of the review queue: the items a person sees, an item's burst and conversation, the operator's desk."""

from __future__ import annotations

from django.db.models import F, Prefetch

from customer_service.models import Message, ReplyTemplate, ReviewItem

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
