import numpy as np
import pytest

from knowledge import services
from knowledge.choices import VectorStatus
from knowledge.embedders import get_embedder
from knowledge.exceptions import KnowledgeError
from knowledge.models import (
    KEYWORD_MAX_LENGTH,
    KEYWORDS_MAX,
    SIMILAR_QUESTION_MAX_LENGTH,
    SIMILAR_QUESTIONS_MAX,
    IndexStamp,
    KnowledgeItem,
    KnowledgeVector,
)
from knowledge.selectors import knowledge_item_vector_status

pytestmark = pytest.mark.django_db


def make(world, **overrides):
    fields = {"actor": world.shop_admin, "shop": world.shop, "question": "蛋糕能保存几天？",
              "answer": "冷藏两天。", "keywords": ["保存"], "similar_questions": ["保质期多久"]}
    fields.update(overrides)
    return services.knowledge_item_create(**fields)


def test_create_records_the_author_similar_questions_and_bumps_the_shops_stamp(world):
    item = make(world, similar_questions=["保质期多久", " 保质期多久 ", "", "放冰箱能放几天"])
    assert item.created_by == world.shop_admin and item.updated_by == world.shop_admin
    assert item.similar_texts() == ["保质期多久", "放冰箱能放几天"]
    assert IndexStamp.objects.get(scope=f"shop:{world.shop.pk}").token


def test_a_shared_item_bumps_the_shared_stamp(world):
    make(world, shop=None, actor=world.superadmin)
    assert IndexStamp.objects.filter(scope="shared").exists()


def test_create_refuses_an_item_without_question_or_answer(world):
    with pytest.raises(KnowledgeError) as info:
        make(world, question="  ", answer="")
    assert info.value.code == "invalid_item"
    assert {"question", "answer"} <= set(info.value.detail)
    assert not KnowledgeItem.all_objects.exists()


def test_update_changes_fields_the_editor_and_the_token(world):
    item = make(world)
    before = IndexStamp.objects.get(scope=f"shop:{world.shop.pk}").token
    services.knowledge_item_update(item=item, actor=world.superadmin, answer="冷藏三天。", keywords="保存|冷藏")
    item.refresh_from_db()
    assert item.answer == "冷藏三天。" and item.keywords == ["保存", "冷藏"]
    assert item.updated_by == world.superadmin and item.created_by == world.shop_admin
    assert IndexStamp.objects.get(scope=f"shop:{world.shop.pk}").token != before


def test_update_refuses_unknown_fields(world):
    with pytest.raises(KnowledgeError):
        services.knowledge_item_update(item=make(world), actor=world.shop_admin, price=3)


def stamp_token(scope: str):
    return IndexStamp.objects.filter(scope=scope).values_list("token", flat=True).first()


def test_moving_an_item_to_another_shop_bumps_both_scopes(world):
    item = make(world)
    before = {scope: stamp_token(scope) for scope in (f"shop:{world.shop.pk}", f"shop:{world.other_shop.pk}")}
    services.knowledge_item_update(item=item, actor=world.superadmin, shop=world.other_shop)
    assert all(stamp_token(scope) != token for scope, token in before.items())


def test_a_move_already_on_the_instance_still_bumps_the_scope_it_left(world):
    # A form writes the new shop onto the instance before the service runs.
    item = make(world)
    before = stamp_token(f"shop:{world.shop.pk}")
    item.shop = world.other_shop
    services.knowledge_item_update(item=item, actor=world.superadmin, shop=world.other_shop)
    assert stamp_token(f"shop:{world.shop.pk}") != before


@pytest.mark.parametrize("field", ["question", "answer", "category", "external_id"])
def test_invisible_control_characters_are_refused_with_their_position(world, field):
    item = make(world)
    with pytest.raises(KnowledgeError) as info:
        services.knowledge_item_update(item=item, actor=world.superadmin, **{field: "第一行\x0b第二行"})
    assert "U+000B" in str(info.value.detail[field]) and "position 4" in str(info.value.detail[field])
    item.refresh_from_db()
    assert "\x0b" not in getattr(item, field)


@pytest.mark.parametrize("field", ["keywords", "similar_questions"])
def test_control_characters_in_text_lists_are_refused(world, field):
    with pytest.raises(KnowledgeError) as info:
        services.knowledge_item_update(item=make(world), actor=world.superadmin, **{field: ["好的", "坏\x00的"]})
    assert "U+0000" in info.value.message


def test_delete_is_soft_audited_and_restorable(world):
    item = make(world)
    services.knowledge_item_delete(item=item, actor=world.superadmin)
    assert not KnowledgeItem.objects.filter(pk=item.pk).exists()
    deleted = KnowledgeItem.all_objects.get(pk=item.pk)
    assert deleted.is_deleted and deleted.updated_by == world.superadmin
    services.knowledge_item_restore(item=deleted, actor=world.superadmin)
    assert KnowledgeItem.objects.filter(pk=item.pk).exists()


def test_vectors_are_built_after_commit_one_per_phrasing_with_the_text_hash(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        item = make(world)
    vectors = KnowledgeVector.objects.filter(item=item)
    assert {v.text for v in vectors} == {text for text, _ in item.phrasings()}
    vector = vectors.first()
    assert vector.dimension == 512 and len(bytes(vector.vector)) == 512 * 4
    assert np.isclose(np.linalg.norm(vector.as_array()), 1.0, atol=1e-4)
    assert knowledge_item_vector_status(item=item) == VectorStatus.FRESH


def test_an_edit_makes_vectors_stale_until_reindexed(world):
    item = make(world)
    assert knowledge_item_vector_status(item=item) == VectorStatus.MISSING
    services.knowledge_item_reindex(item=item)
    assert knowledge_item_vector_status(item=item) == VectorStatus.FRESH
    KnowledgeItem.objects.filter(pk=item.pk).update(question="蛋糕冷冻能放多久？")
    item.refresh_from_db()
    assert knowledge_item_vector_status(item=item) == VectorStatus.STALE
    counts = services.knowledge_item_reindex(item=item)
    assert counts["created"] >= 1 and counts["deleted"] >= 1 and counts["kept"] >= 1
    assert knowledge_item_vector_status(item=item) == VectorStatus.FRESH


def test_another_embedder_version_is_stale(world):
    item = make(world)
    services.knowledge_item_reindex(item=item)
    KnowledgeVector.objects.filter(item=item).update(embedder_version="old")
    assert knowledge_item_vector_status(item=item) == VectorStatus.MISSING
    services.knowledge_item_reindex(item=item)
    assert not KnowledgeVector.objects.filter(item=item, embedder_version="old").exists()


def test_search_uses_stored_vectors_and_embeds_only_what_is_missing(world):
    from knowledge.index import build_shop_index

    item = make(world)
    assert build_shop_index(world.shop.pk).embedded_on_the_fly == len(item.phrasings())
    services.knowledge_item_reindex(item=item)
    assert build_shop_index(world.shop.pk).embedded_on_the_fly == 0


def test_reindex_many_reports_progress_and_skips_fresh_items(world):
    first, second = make(world), make(world, question="可以写字吗？", answer="可以。", similar_questions=[])
    services.knowledge_item_reindex(item=first)
    ticks = []
    totals = services.knowledge_reindex(items=KnowledgeItem.objects.all(), stale_only=True, progress=ticks.append)
    assert totals["items"] == 1 and totals["skipped"] == 1 and sum(ticks) == 2
    assert knowledge_item_vector_status(item=second) == VectorStatus.FRESH


def test_the_offline_embedder_is_one_per_process_and_gives_unit_vectors_for_chinese():
    embedder = get_embedder()
    assert get_embedder() is embedder
    vectors = embedder.embed(["亲，包邮吗～", "包邮吗", "手机保修多久"])
    assert vectors.shape == (3, 512) and vectors.dtype == np.float32
    assert np.allclose(vectors[0], vectors[1], atol=1e-5)  # greeting and tilde normalised away
    assert float(vectors[1] @ vectors[2]) < 0.9


def test_the_beat_sweep_rebuilds_missing_vectors(world):
    from kefu.celery import app
    from knowledge.tasks import reindex_stale_task

    assert app.conf.beat_schedule["knowledge-reindex-stale"]["task"] == "knowledge.reindex_stale"
    item = make(world)
    assert reindex_stale_task() == {"items": 1, "created": len(item.phrasings()), "deleted": 0, "kept": 0,
                                    "skipped": 0}
    assert knowledge_item_vector_status(item=item) == VectorStatus.FRESH


@pytest.mark.django_db(transaction=True)
def test_two_first_edits_of_a_scope_at_once_both_change_its_stamp(world):
    # The second transaction waits on the first's new stamp row; it must not commit
    # with the first's token, or a process built in between would miss its edit.
    import threading
    import time

    from django.db import connection, transaction

    first_done, tokens = threading.Event(), {}

    def first():
        try:
            with transaction.atomic():
                services.index_stamp_bump(shop_id=world.shop.pk)
                tokens["first"] = stamp_token(f"shop:{world.shop.pk}")  # this transaction's own token
                first_done.set()
                time.sleep(0.5)  # the second is now waiting on this row
        finally:
            connection.close()

    def second():
        try:
            first_done.wait(5)
            with transaction.atomic():
                services.index_stamp_bump(shop_id=world.shop.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert tokens["first"] and stamp_token(f"shop:{world.shop.pk}") != tokens["first"]


def test_an_answer_longer_than_a_chat_message_is_refused(world):
    from knowledge.models import ANSWER_MAX_LENGTH

    with pytest.raises(KnowledgeError) as info:
        services.knowledge_item_update(item=make(world), actor=world.superadmin, answer="长" * (ANSWER_MAX_LENGTH + 1))
    assert "answer" in info.value.detail


@pytest.mark.parametrize(("field", "values", "message"), [
    ("keywords", ["发货", "快" * (KEYWORD_MAX_LENGTH + 1)], "longer than 100 characters"),
    ("keywords", [f"词{n}" for n in range(KEYWORDS_MAX + 1)], "at most 50 entries"),
    ("similar_questions", ["问" * (SIMILAR_QUESTION_MAX_LENGTH + 1)], "longer than 500 characters"),
    ("similar_questions", [f"问题{n}" for n in range(SIMILAR_QUESTIONS_MAX + 1)], "at most 100 entries"),
])
def test_oversized_keywords_and_similar_questions_are_refused_and_nothing_changes(world, field, values, message):
    item = services.knowledge_item_create(actor=world.shop_admin, shop=world.shop, question="几天发货？",
                                          answer="48 小时内。", keywords=["发货"], reindex=False)
    with pytest.raises(KnowledgeError, match=message) as info:
        services.knowledge_item_create(actor=world.shop_admin, shop=world.shop, question="多久到？", answer="三天。",
                                       reindex=False, **{field: values})
    assert info.value.code == "invalid_item" and field in info.value.detail
    with pytest.raises(KnowledgeError, match=message):
        services.knowledge_item_update(item=item, actor=world.shop_admin, reindex=False, **{field: values})
    item.refresh_from_db()
    assert item.keywords == ["发货"] and not item.similar_texts()
    assert KnowledgeItem.objects.filter(shop=world.shop).count() == 1
    # At the limits, accepted: as many entries as allowed, the longest one as long as allowed.
    max_length, max_entries = {"keywords": (KEYWORD_MAX_LENGTH, KEYWORDS_MAX),
                               "similar_questions": (SIMILAR_QUESTION_MAX_LENGTH, SIMILAR_QUESTIONS_MAX)}[field]
    at_limits = ["长" * max_length] + [f"词{n}" for n in range(max_entries - 1)]
    services.knowledge_item_update(item=item, actor=world.shop_admin, reindex=False, **{field: at_limits})
    item.refresh_from_db()
    assert (item.keywords if field == "keywords" else item.similar_texts()) == at_limits
