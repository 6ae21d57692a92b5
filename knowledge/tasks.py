"""Thin Celery tasks: load ids, call one service or selector."""

from celery import shared_task


@shared_task(name="knowledge.reindex_items", bind=True, max_retries=3, default_retry_delay=10)
def reindex_items_task(self, item_ids: list[int]):
    """Rebuild the stored vectors of these items (queued after an edit commits)."""
    from .models import KnowledgeItem
    from .services import knowledge_item_reindex

    done = 0
    for item in KnowledgeItem.all_objects.filter(pk__in=item_ids).prefetch_related("similar_questions"):
        try:
            knowledge_item_reindex(item=item)
        except Exception as exc:  # a provider embedder can fail for a while; try again later
            raise self.retry(exc=exc) from exc
        done += 1
    return done


@shared_task(name="knowledge.search_task")
def search_task(shop_id: int, text: str, k: int = 5) -> list[dict]:
    """Search from a worker: what the reply pipeline runs, and how the tests ask another process."""
    from .selectors import knowledge_search

    return [hit.as_dict() for hit in knowledge_search(shop=shop_id, text=text, k=k)]


@shared_task(name="knowledge.reindex_stale")
def reindex_stale_task() -> dict:
    """Rebuild whatever vectors are missing or stale, everywhere (beat, every few hours)."""
    from .models import KnowledgeItem
    from .services import knowledge_reindex

    return knowledge_reindex(items=KnowledgeItem.objects.all(), stale_only=True)
