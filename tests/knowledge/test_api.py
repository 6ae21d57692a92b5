import pytest

from knowledge.models import KnowledgeItem

pytestmark = pytest.mark.django_db

URL = "/api/knowledge/"


def item_body(shop, **extra):
    body = {"shop": shop.pk if shop else None, "question": "蛋糕能保存几天？", "answer": "冷藏两天。",
            "keywords": ["保存"], "similar_questions": ["保质期多久"]}
    body.update(extra)
    return body


def test_members_list_their_shops_items_and_the_shared_ones_only(world, kb, client_for):
    response = client_for(world.agent).get(URL, {"page_size": 100})
    assert response.status_code == 200
    ids = {row["external_id"] for row in response.json()["results"]}
    assert any(i.startswith("t-cake") for i in ids) and any(i.startswith("t-shared") for i in ids)
    assert not any(i.startswith("t-digital") for i in ids)


def test_an_outsider_gets_404_for_another_shops_item(world, kb, client_for):
    response = client_for(world.outsider).get(f"{URL}{kb['t-cake-001'].pk}/")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_a_shop_admin_creates_updates_and_deletes_in_their_shop(world, client_for):
    client = client_for(world.shop_admin)
    created = client.post(URL, item_body(world.shop), format="json")
    assert created.status_code == 201, created.content
    assert created.json()["similar_questions"] == ["保质期多久"]
    pk = created.json()["id"]
    changed = client.patch(f"{URL}{pk}", {"answer": "冷藏三天。", "similar_questions": []}, format="json")
    assert changed.status_code == 200 and changed.json()["answer"] == "冷藏三天。"
    assert changed.json()["similar_questions"] == []
    assert client.delete(f"{URL}{pk}").status_code == 204
    assert KnowledgeItem.all_objects.get(pk=pk).is_deleted


def test_agents_read_but_do_not_write(world, kb, client_for):
    client = client_for(world.agent)
    assert client.post(URL, item_body(world.shop), format="json").status_code == 403
    assert client.patch(f"{URL}{kb['t-cake-001'].pk}", {"answer": "x"}, format="json").status_code == 403


def test_shared_items_are_written_by_superadmins_only(world, kb, client_for):
    assert client_for(world.shop_admin).post(URL, item_body(None), format="json").status_code == 403
    assert client_for(world.shop_admin).patch(
        f"{URL}{kb['t-shared-001'].pk}", {"answer": "x"}, format="json").status_code == 403
    assert client_for(world.superadmin).post(URL, item_body(None), format="json").status_code == 201


def test_a_shop_admin_cannot_write_to_another_shop(world, client_for):
    response = client_for(world.shop_admin).post(URL, item_body(world.other_shop), format="json")
    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"


def test_search_ranks_the_shops_items_with_confidence(world, kb, client_for):
    response = client_for(world.agent).get(f"{URL}search", {"shop": world.shop.pk, "q": "保质期多久", "k": 3})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["hits"][0]["external_id"] == "t-cake-001"
    assert body["hits"][0]["matched_phrasing"] == "保质期多久"
    assert 0 <= body["hits"][0]["confidence"] <= 1 and len(body["hits"]) == 3


@pytest.mark.parametrize("params", [{}, {"shop": "x", "q": "a"}, {"shop": 1}, {"q": "发票"},
                                    {"shop": 1, "q": "a", "k": 0}, {"shop": 1, "q": "a", "k": 999},
                                    {"shop": 1, "q": "a" * 3000}])
def test_search_rejects_bad_input_with_json_400(world, client_for, params):
    response = client_for(world.agent).get(f"{URL}search", params)
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"


def test_search_in_a_shop_you_are_not_in_is_404(world, kb, client_for):
    response = client_for(world.agent).get(f"{URL}search", {"shop": world.other_shop.pk, "q": "手机保修"})
    assert response.status_code == 404


def test_anonymous_users_get_401(client_for):
    assert client_for(None).get(f"{URL}search", {"shop": 1, "q": "x"}).status_code == 401


@pytest.mark.parametrize("body", [{"question": "", "answer": "x"}, {"question": "q"}, {"question": "q", "answer": "a",
                                  "keywords": "not-a-list"}, {"question": "q" * 600, "answer": "a"}])
def test_create_rejects_bad_bodies_with_json_400(world, client_for, body):
    response = client_for(world.superadmin).post(URL, {"shop": world.shop.pk, **body}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"


def test_a_keyword_with_the_list_separator_is_refused(world, client_for):
    response = client_for(world.superadmin).post(URL, item_body(world.shop, keywords=["a|b"]), format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_item"


def test_the_list_filters_shared_items_and_searches_similar_questions(world, client_for):
    from .factories import KnowledgeItemFactory, SimilarQuestionFactory

    shared = KnowledgeItemFactory(shop=None, question="可以开发票吗？")
    own = KnowledgeItemFactory(shop=world.shop, question="蛋糕能保存几天？")
    SimilarQuestionFactory(item=own, text="保质期多久")
    client = client_for(world.agent)
    assert [r["id"] for r in client.get(URL, {"shared": "true"}).json()["results"]] == [shared.pk]
    found = client.get(URL, {"search": "保质期"}).json()["results"]
    assert [r["id"] for r in found] == [own.pk] and found[0]["similar_questions"] == ["保质期多久"]
