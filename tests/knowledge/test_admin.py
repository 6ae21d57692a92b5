import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from knowledge import services
from knowledge.models import IndexStamp, KnowledgeItem, KnowledgeVector
from knowledge.selectors import knowledge_search

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:knowledge_knowledgeitem_changelist"


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def inline(prefix="similar_questions", rows=(), initial=0):
    data = {f"{prefix}-TOTAL_FORMS": str(len(rows)), f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}
    for n, row in enumerate(rows):
        for key, value in row.items():
            data[f"{prefix}-{n}-{key}"] = value
    return data


def test_the_changelist_shows_items_with_their_vector_status(world, kb):
    services.knowledge_item_reindex(item=kb["t-cake-001"])
    response = signed_in(world.shop_admin).get(reverse(CHANGELIST))
    assert response.status_code == 200
    text = response.content.decode()
    assert "蛋糕能保存几天" in text and "手机保修多久" not in text
    assert "up to date" in text and "missing" in text
    assert "Try a query" in text


def test_adding_an_item_with_similar_questions_goes_through_the_services(world, kb):
    before = IndexStamp.objects.get(scope=f"shop:{world.shop.pk}").token
    response = signed_in(world.shop_admin).post(reverse("admin:knowledge_knowledgeitem_add"), {
        "shop": world.shop.pk, "question": "可以指定送达时间吗？", "answer": "可以在备注里写。", "category": "配送",
        "keywords": "送达|时间", "is_active": "on", "external_id": "",
        **inline(rows=[{"text": "能定时送吗", "position": "0"}]),
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    item = KnowledgeItem.objects.get(question="可以指定送达时间吗？")
    assert item.created_by == world.shop_admin and item.keywords == ["送达", "时间"]
    assert item.similar_texts() == ["能定时送吗"]
    assert IndexStamp.objects.get(scope=f"shop:{world.shop.pk}").token != before
    assert knowledge_search(shop=world.shop, text="能定时送吗", k=1)[0].item_id == item.pk


def test_changing_an_item_and_its_similar_questions_is_one_write(world, kb, django_capture_on_commit_callbacks):
    item = kb["t-cake-001"]
    url = reverse("admin:knowledge_knowledgeitem_change", args=[item.pk])
    similar = list(item.similar_questions.order_by("position"))
    rows = [{"id": str(s.pk), "item": str(item.pk), "text": s.text, "position": str(s.position)} for s in similar]
    rows.append({"text": "冷藏能放几天", "position": str(len(rows))})
    with django_capture_on_commit_callbacks() as callbacks:
        response = signed_in(world.shop_admin).post(url, {
            "shop": world.shop.pk, "question": item.question, "answer": "冷藏可以放三天。", "category": item.category,
            "keywords": "保存", "is_active": "on", "external_id": item.external_id,
            **inline(rows=rows, initial=len(similar)),
        })
    assert response.status_code == 302, response.context["adminform"].form.errors
    item.refresh_from_db()
    assert item.answer == "冷藏可以放三天。" and item.keywords == ["保存"]
    assert item.similar_texts()[-1] == "冷藏能放几天"
    assert len(callbacks) == 1  # one reindex queued for one save


def test_deleting_in_the_admin_is_soft_and_leaves_search(world, kb):
    item = kb["t-cake-002"]
    response = signed_in(world.shop_admin).post(reverse("admin:knowledge_knowledgeitem_delete", args=[item.pk]),
                                                {"post": "yes"})
    assert response.status_code == 302
    assert KnowledgeItem.all_objects.get(pk=item.pk).is_deleted
    assert item.pk not in [h.item_id for h in knowledge_search(shop=world.shop, text="能写字吗", k=10)]


def test_bulk_reindex_action_builds_vectors_after_commit(world, kb, django_capture_on_commit_callbacks):
    items = [kb["t-cake-001"], kb["t-cake-002"]]
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(world.shop_admin).post(reverse(CHANGELIST), {
            "action": "reindex_selected", "_selected_action": [i.pk for i in items]})
    assert response.status_code == 302
    assert set(KnowledgeVector.objects.values_list("item_id", flat=True)) == {i.pk for i in items}


def test_deactivate_action_removes_items_from_search(world, kb):
    item = kb["t-cake-002"]
    signed_in(world.shop_admin).post(reverse(CHANGELIST), {"action": "deactivate_selected",
                                                           "_selected_action": [item.pk]})
    assert item.pk not in [h.item_id for h in knowledge_search(shop=world.shop, text="能写字吗", k=10)]


def test_agents_see_items_but_cannot_change_them(world, kb):
    client = signed_in(world.agent)
    assert client.get(reverse(CHANGELIST)).status_code == 200
    url = reverse("admin:knowledge_knowledgeitem_change", args=[kb["t-cake-001"].pk])
    response = client.post(url, {"question": "x", "answer": "y", "shop": world.shop.pk, **inline()})
    assert response.status_code == 403
    assert KnowledgeItem.objects.get(pk=kb["t-cake-001"].pk).question == "蛋糕能保存几天？"


def test_people_who_only_read_an_item_see_its_keywords_as_text(world, kb):
    item = kb["t-cake-001"]
    services.knowledge_item_update(item=item, actor=world.shop_admin, keywords=["保质期", "冷藏"], reindex=False)
    url = reverse("admin:knowledge_knowledgeitem_change", args=[item.pk])
    page = signed_in(world.agent).get(url).content.decode()
    assert "保质期 | 冷藏" in page and "[&quot;保质期&quot;" not in page
    page = signed_in(world.shop_admin).get(url).content.decode()
    assert 'name="keywords"' in page and "保质期|冷藏" in page and "保质期 | 冷藏" not in page


def test_try_a_query_shows_ranked_hits_with_signals_and_confidence(world, kb):
    response = signed_in(world.agent).get(reverse("admin:knowledge_knowledgeitem_try"),
                                          {"shop": world.shop.pk, "q": "保质期多久", "k": 3})
    assert response.status_code == 200
    text = response.content.decode()
    assert "蛋糕能保存几天" in text and "confidence" in text and "similar question" in text
    assert response.context["hits"][0].external_id == "t-cake-001"


def test_try_a_query_names_the_matched_part_in_the_readers_language(world, kb, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    response = signed_in(world.agent).get(reverse("admin:knowledge_knowledgeitem_try"),
                                          {"shop": world.shop.pk, "q": "保质期多久", "k": 3})
    assert response.context["hits"][0].matched_kind == "similar"
    assert "<small>相似问法</small>" in response.content.decode()


def test_try_a_query_offers_only_the_users_shops(world, kb):
    response = signed_in(world.agent).get(reverse("admin:knowledge_knowledgeitem_try"),
                                          {"shop": world.other_shop.pk, "q": "手机保修"})
    assert response.status_code == 200 and response.context["hits"] is None
    assert "shop" in response.context["form"].errors


def test_import_page_reports_bad_rows_and_imports_good_files(world):
    client = signed_in(world.shop_admin)
    url = reverse("admin:knowledge_knowledgeitem_import")
    bad = SimpleUploadedFile("faq.csv", "question,answer\n好问题,\n".encode())
    response = client.post(url, {"shop": world.shop.pk, "file": bad, "on_duplicate": "error"})
    assert response.status_code == 200
    assert response.context["errors"] == [{"row": 2, "field": "answer", "message": "is required"}]
    assert not KnowledgeItem.objects.exists()
    good = SimpleUploadedFile("faq.csv", "question,answer\n好问题,好答案\n".encode())
    response = client.post(url, {"shop": world.shop.pk, "file": good, "on_duplicate": "error"})
    assert response.status_code == 200 and response.context["report"].created == 1
    assert KnowledgeItem.objects.get().shop == world.shop


def test_agents_cannot_open_the_import_page(world):
    assert signed_in(world.agent).get(reverse("admin:knowledge_knowledgeitem_import")).status_code == 403


def test_purging_an_item_removes_it_from_search_at_once(world, kb):
    item = kb["t-cake-002"]
    assert item.pk in [h.item_id for h in knowledge_search(shop=world.shop, text="能写字吗", k=10)]
    response = signed_in(world.superadmin).post(reverse(CHANGELIST), {
        "action": "purge_selected", "_selected_action": [item.pk], "confirm_purge": "yes"})
    assert response.status_code == 302
    assert not KnowledgeItem.all_objects.filter(pk=item.pk).exists()
    assert item.pk not in [h.item_id for h in knowledge_search(shop=world.shop, text="能写字吗", k=10)]


@pytest.mark.django_db
def test_the_changelist_reads_vector_status_in_one_query_whatever_the_page_size(world, client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from knowledge.services import knowledge_item_create

    client.force_login(world.superadmin)
    for n in range(12):
        knowledge_item_create(actor=world.superadmin, shop=world.shop, question=f"问题{n}", answer="答案")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/admin/knowledge/knowledgeitem/").status_code == 200
    vector_queries = [q for q in queries.captured_queries if "knowledge_knowledgevector" in q["sql"]]
    assert len(vector_queries) == 1


def changelist_action(client, action, items, **extra):
    return client.post(reverse(CHANGELIST), {
        "action": action, "_selected_action": [item.pk for item in items], "index": "0", **extra,
    })


@pytest.mark.parametrize(("action", "extra"), [
    ("deactivate_selected", {}), ("purge_selected", {"confirm_purge": "yes"}), ("delete_selected", {"post": "yes"}),
])
def test_actions_reach_only_the_rows_the_person_may_change(world, kb, action, extra):
    from customer_service.models import ShopMembership
    from customer_service.shops.choices import ShopRole

    ShopMembership.objects.create(shop=world.other_shop, user=world.shop_admin, role=ShopRole.AGENT)
    shared, foreign, own = kb["t-shared-002"], kb["t-digital-001"], kb["t-cake-002"]
    browser = signed_in(world.shop_admin)
    response = changelist_action(browser, action, [shared, foreign, own], **extra)
    assert response.status_code == 302
    for item in (shared, foreign):  # visible to a shop admin, but not theirs to change
        stored = KnowledgeItem.all_objects.get(pk=item.pk)
        assert stored.is_active and not stored.is_deleted
    assert not KnowledgeItem.objects.filter(pk=own.pk, is_active=True).exists()
    assert "2 selected rows are not yours to change" in browser.get(reverse(CHANGELIST)).content.decode()


def test_the_similar_questions_inline_is_checked_like_the_api(world):
    data = {"shop": world.shop.pk, "question": "可以指定送达时间吗？", "answer": "可以在备注里写。", "category": "配送",
            "keywords": "", "is_active": "on", "external_id": ""}
    refused = signed_in(world.shop_admin).post(reverse("admin:knowledge_knowledgeitem_add"), {
        **data, **inline(rows=[{"text": "能定时送吗|几点到", "position": "0"}])})
    assert refused.status_code == 200 and "separates entries" in refused.content.decode()
    assert not KnowledgeItem.objects.filter(question="可以指定送达时间吗？").exists()
    accepted = signed_in(world.shop_admin).post(reverse("admin:knowledge_knowledgeitem_add"), {
        **data, **inline(rows=[{"text": "可以指定送达时间吗？", "position": "0"},
                               {"text": "几点到", "position": "1"}])})
    assert accepted.status_code == 302
    assert KnowledgeItem.objects.get(question="可以指定送达时间吗？").similar_texts() == ["几点到"]


def test_moving_an_item_in_the_admin_leaves_no_stale_index_behind(world, kb):
    item = kb["t-shared-002"]
    assert knowledge_search(shop=world.shop, text="能开发票吗", k=1)[0].item_id == item.pk
    response = signed_in(world.superadmin).post(reverse("admin:knowledge_knowledgeitem_change", args=[item.pk]), {
        "shop": world.other_shop.pk, "question": item.question, "answer": item.answer, "category": item.category,
        "keywords": "|".join(item.keywords), "is_active": "on", "external_id": item.external_id,
        **inline(rows=[{"text": t, "position": str(n)} for n, t in enumerate(item.similar_texts())]),
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    assert item.pk not in {hit.item_id for hit in knowledge_search(shop=world.shop, text="能开发票吗", k=10)}


def test_a_control_character_in_the_keywords_is_a_field_error_not_a_server_error(world):
    response = signed_in(world.shop_admin).post(reverse("admin:knowledge_knowledgeitem_add"), {
        "shop": world.shop.pk, "question": "可以指定送达时间吗？", "answer": "可以在备注里写。", "category": "",
        "keywords": "送达\x07|时间", "is_active": "on", "external_id": "", **inline(),
    })
    assert response.status_code == 200
    assert "U+0007" in str(response.context["adminform"].form.errors["keywords"])
    assert not KnowledgeItem.objects.filter(question="可以指定送达时间吗？").exists()


def test_the_import_button_is_offered_only_to_people_who_may_import(world):
    import_url = reverse("admin:knowledge_knowledgeitem_import")
    assert import_url not in signed_in(world.agent).get(reverse(CHANGELIST)).content.decode()
    assert import_url in signed_in(world.shop_admin).get(reverse(CHANGELIST)).content.decode()


def test_the_import_page_says_what_went_wrong_once(world):
    response = signed_in(world.shop_admin).post(reverse("admin:knowledge_knowledgeitem_import"), {
        "shop": world.shop.pk, "on_duplicate": "error",
        "file": SimpleUploadedFile("faq.csv", "question,answer\n好问题,\n".encode())})
    message = response.context["form"].non_field_errors()[0]
    assert response.content.decode().count(message) == 1


def test_the_import_page_reports_problems_in_chinese(world, settings):
    settings.LANGUAGE_CODE = "zh-hans"
    client = signed_in(world.shop_admin)
    bad = SimpleUploadedFile("faq.csv", "question,answer\n好问题,\n".encode())
    response = client.post(reverse("admin:knowledge_knowledgeitem_import"),
                           {"shop": world.shop.pk, "file": bad, "on_duplicate": "error"})
    assert response.context["errors"] == [{"row": 2, "field": "answer", "message": "必填"}]
    text = response.content.decode()
    assert "1 行中有 1 个问题；未导入任何内容。" in text and "按文件更新" in text
    gbk = SimpleUploadedFile("faq.csv", "question,answer\n能开发票吗,可以\n".encode("gbk"))
    response = client.post(reverse("admin:knowledge_knowledgeitem_import"),
                           {"shop": world.shop.pk, "file": gbk, "on_duplicate": "error"})
    assert "CSV UTF-8" in response.content.decode() and "文件不是 UTF-8 文本" in response.content.decode()
