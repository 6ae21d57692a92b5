"""Celery task of the suggestions: thin, calls one service."""

from celery import shared_task


@shared_task(name="suggestions.record", acks_late=True)
def knowledge_suggestion_record_task(review_item_id: int):
    """What a review outcome suggests, recorded after the outcome committed (the review actions enqueue it:
    ``transaction.on_commit(lambda: knowledge_suggestion_record_task.delay(item.pk))``)."""
    from customer_service.models import ReviewItem

    from .services import knowledge_suggestion_record

    item = ReviewItem.objects.filter(pk=review_item_id).first()
    if item is None:
        return None
    suggestion = knowledge_suggestion_record(item=item)
    return suggestion.pk if suggestion else None
