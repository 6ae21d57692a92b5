"""Reads for knowledge suggestions."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce

from customer_service.models import KnowledgeSuggestion, SuggestionKind, SuggestionStatus
from knowledge.models import KnowledgeItem


@dataclass(frozen=True)
class EntrySuggestions:
    """What review has suggested about one knowledge entry."""

    item: KnowledgeItem
    phrasings: int  # suggestions of a new similar question for the entry
    corrections: int  # suggestions of a new entry because people corrected or rejected this entry's answer
    pending: int
    accepted: int
    dismissed: int
    times: int  # how often review outcomes made these suggestions (the sum of their counts)


def knowledge_suggestion_counts_by_entry(*, user, shop=None, limit: int = 200) -> list[EntrySuggestions]:
    """The suggestions ``user`` sees, counted per knowledge entry, the most suggested first.

    An entry is the one a similar question would join, or, for a suggested new entry, the entry whose answer
    the latest reviewed draft came from (its answer was corrected or rejected). Suggestions tied to no entry
    (AI drafts corrected) are left out. Two queries whatever the number of entries.
    """
    rows = KnowledgeSuggestion.objects.for_user(user)
    if shop is not None:
        rows = rows.filter(shop=shop)
    rows = (
        rows.annotate(entry=Coalesce("knowledge_item", "review_item__draft__knowledge_item"))
        .exclude(entry=None)
        .values("entry")
        .annotate(
            phrasings=Count("pk", filter=Q(kind=SuggestionKind.SIMILAR_QUESTION)),
            corrections=Count("pk", filter=Q(kind=SuggestionKind.NEW_ITEM)),
            pending=Count("pk", filter=Q(status=SuggestionStatus.PENDING)),
            accepted=Count("pk", filter=Q(status=SuggestionStatus.ACCEPTED)),
            dismissed=Count("pk", filter=Q(status=SuggestionStatus.DISMISSED)),
            times=Sum("count"),
        )
        .order_by("-times", "-pending", "entry")[:limit]
    )
    rows = list(rows)
    items = KnowledgeItem.all_objects.select_related("shop").in_bulk([row["entry"] for row in rows])
    return [
        EntrySuggestions(item=items[row.pop("entry")], **row)
        for row in rows if row["entry"] in items
    ]
