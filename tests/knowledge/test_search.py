import pytest

import knowledge
from knowledge import services
from knowledge.exceptions import KnowledgeError
from knowledge.selectors import knowledge_search

pytestmark = pytest.mark.django_db


def top(shop, text):
    hits = knowledge_search(shop=shop, text=text, k=5)
    return hits[0].external_id if hits else None


def ids(shop, text, k=20):
    return {hit.external_id for hit in knowledge_search(shop=shop, text=text, k=k)}


def test_a_shop_finds_its_own_item_with_the_matched_phrasing(world, kb):
    hits = knowledge.search(world.shop, "保质期多久", 3)
    assert hits[0].external_id == "t-cake-001"
    assert hits[0].matched_phrasing == "保质期多久"
    assert hits[0].matched_kind == "similar"
    assert 0.0 <= hits[0].confidence <= 1.0
    assert {"dense", "lexical", "margin", "item_margin", "qcov"} <= set(hits[0].signals)


def test_a_shop_never_gets_another_shops_items(world, kb):
    cake = ids(world.shop, "手机保修多久 耳机降噪")
    digital = ids(world.other_shop, "蛋糕能保存几天")
    assert not any(i.startswith("t-digital") for i in cake)
    assert not any(i.startswith("t-cake") for i in digital)


def test_shared_items_reach_every_shop(world, kb):
    assert top(world.shop, "能开发票吗") == "t-shared-002"
    assert top(world.other_shop, "能开发票吗") == "t-shared-002"


def test_a_shop_without_items_of_its_own_still_gets_the_shared_ones(world, kb):
    from tests.customer_service.factories import ShopFactory

    assert top(ShopFactory(), "发什么快递") == "t-shared-001"


def test_buyer_style_text_is_normalised(world, kb):
    assert top(world.shop, "亲～～蛋糕放冰箱能放几天呀！！！😊") == "t-cake-001"
    assert top(world.other_shop, "您好～请问发什么快递？？？") == "t-shared-001"


def test_greetings_alone_are_never_confident(world, kb):
    hits = knowledge_search(shop=world.shop, text="亲在吗", k=1)
    assert hits[0].confidence <= 0.05


def test_editing_an_item_changes_the_results_at_once(world, kb):
    assert top(world.shop, "可以用优惠券吗") != "t-cake-005"
    services.knowledge_item_update(item=kb["t-cake-005"], actor=world.shop_admin,
                                   similar_questions=["可以用优惠券吗"])
    assert top(world.shop, "可以用优惠券吗") == "t-cake-005"


def test_deactivating_and_deleting_remove_the_item_from_results(world, kb):
    assert "t-cake-002" in ids(world.shop, "能写字吗")
    services.knowledge_items_set_active(items=[kb["t-cake-002"]], actor=world.shop_admin, active=False)
    assert "t-cake-002" not in ids(world.shop, "能写字吗")
    services.knowledge_items_set_active(items=[kb["t-cake-002"]], actor=world.shop_admin, active=True)
    assert "t-cake-002" in ids(world.shop, "能写字吗")
    services.knowledge_item_delete(item=kb["t-cake-002"], actor=world.shop_admin)
    assert "t-cake-002" not in ids(world.shop, "能写字吗")


def test_editing_a_shared_item_reaches_every_shops_index(world, kb):
    knowledge_search(shop=world.shop, text="预热", k=1)
    knowledge_search(shop=world.other_shop, text="预热", k=1)
    services.knowledge_item_update(item=kb["t-shared-002"], actor=world.superadmin,
                                   similar_questions=["要增值税专票"])
    assert top(world.shop, "要增值税专票") == "t-shared-002"
    assert top(world.other_shop, "要增值税专票") == "t-shared-002"


def test_empty_text_gives_no_hits_and_bad_input_is_refused(world, kb):
    assert knowledge_search(shop=world.shop, text="   ", k=5) == []
    with pytest.raises(KnowledgeError):
        knowledge_search(shop=world.shop, text="x" * 5000, k=5)
    with pytest.raises(KnowledgeError):
        knowledge_search(shop=world.shop, text="发票", k=0)


def test_a_shop_with_no_items_at_all_gives_no_hits(world):
    assert knowledge_search(shop=world.shop, text="发票", k=5) == []


def test_after_an_edit_only_the_changed_item_is_reloaded(world, kb):
    from knowledge.index import shop_index

    first = shop_index(world.shop.pk)
    assert first.reloaded == len(first.items)
    services.knowledge_item_update(item=kb["t-cake-004"], actor=world.shop_admin, similar_questions=["有花生吗"])
    second = shop_index(world.shop.pk)
    assert second is not first and second.reloaded == 1
    assert top(world.shop, "有花生吗") == "t-cake-004"
    services.knowledge_item_delete(item=kb["t-shared-001"], actor=world.superadmin)
    third = shop_index(world.shop.pk)
    assert third.reloaded == 0 and kb["t-shared-001"].pk not in third.items
    assert shop_index(world.shop.pk) is third  # nothing changed: the cached index answers
