"""A second process (a real Celery worker on a real Redis) sees every committed edit at once."""

import pytest

from knowledge import services
from knowledge.tasks import search_task

pytestmark = [pytest.mark.slow, pytest.mark.redis]


def worker_top(app, shop, text) -> str | None:
    hits = search_task.delay(shop.pk, text, 10).get(timeout=60)
    return hits[0]["question"] if hits else None


def worker_questions(shop, text) -> set:
    return {hit["question"] for hit in search_task.delay(shop.pk, text, 10).get(timeout=60)}


def test_edit_deactivate_and_delete_are_seen_by_another_process_right_after_commit(world, celery_worker_process):
    cake = services.knowledge_item_create(actor=world.shop_admin, shop=world.shop, question="蛋糕能保存几天？",
                                          answer="冷藏两天。", keywords=["保存"], reindex=False)
    services.knowledge_item_create(actor=world.shop_admin, shop=world.shop, question="可以写祝福语吗？",
                                   answer="可以。", reindex=False)
    services.knowledge_item_create(actor=world.outsider, shop=world.other_shop, question="手机保修多久？",
                                   answer="一年。", reindex=False)
    # The worker builds and caches its index of the shop now.
    assert worker_top(celery_worker_process, world.shop, "蛋糕能放几天") == "蛋糕能保存几天？"
    assert "手机保修多久？" not in worker_questions(world.shop, "手机保修多久")

    services.knowledge_item_update(item=cake, actor=world.shop_admin, question="蛋糕冷冻能放多久？")
    assert worker_top(celery_worker_process, world.shop, "蛋糕冷冻能放多久") == "蛋糕冷冻能放多久？"
    assert "蛋糕能保存几天？" not in worker_questions(world.shop, "蛋糕能放几天")

    services.knowledge_items_set_active(items=[cake], actor=world.shop_admin, active=False)
    assert "蛋糕冷冻能放多久？" not in worker_questions(world.shop, "蛋糕冷冻能放多久")

    services.knowledge_items_set_active(items=[cake], actor=world.shop_admin, active=True)
    assert "蛋糕冷冻能放多久？" in worker_questions(world.shop, "蛋糕冷冻能放多久")

    services.knowledge_item_delete(item=cake, actor=world.shop_admin)
    assert "蛋糕冷冻能放多久？" not in worker_questions(world.shop, "蛋糕冷冻能放多久")

    shared = services.knowledge_item_create(actor=world.superadmin, shop=None, question="可以开发票吗？",
                                            answer="可以。", reindex=False)
    assert worker_top(celery_worker_process, world.other_shop, "能开发票吗") == "可以开发票吗？"
    assert worker_top(celery_worker_process, world.shop, "能开发票吗") == "可以开发票吗？"
    services.knowledge_item_delete(item=shared, actor=world.superadmin)
    assert "可以开发票吗？" not in worker_questions(world.other_shop, "能开发票吗")


def test_the_reindex_task_runs_in_the_worker_after_commit(world, celery_worker_process):
    import time

    from knowledge.models import KnowledgeVector

    item = services.knowledge_item_create(actor=world.shop_admin, shop=world.shop, question="同城配送要多久？",
                                          answer="三小时内。")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not KnowledgeVector.objects.filter(item=item).exists():
        time.sleep(0.2)
    assert KnowledgeVector.objects.filter(item=item).count() == len(item.phrasings())
