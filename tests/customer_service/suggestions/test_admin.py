"""A shop admin accepts a suggestion with their edits, or dismisses one, in one click; an agent only sees them."""

import pytest
from django.urls import reverse

from customer_service.models import KnowledgeSuggestion, ReplySource, ReviewStatus, SuggestionStatus
from customer_service.suggestions.services import knowledge_suggestion_record

from .test_services import ANSWER, reviewed

pytestmark = pytest.mark.django_db


@pytest.fixture
def suggestion(world):
    return knowledge_suggestion_record(item=reviewed(world.shop, status=ReviewStatus.EDITED, final_text=ANSWER,
                                                     source=ReplySource.AI))


def test_accepting_with_an_edited_answer_creates_that_entry(world, client, suggestion):
    client.force_login(world.shop_admin)
    url = reverse("admin:customer_service_knowledgesuggestion_change", args=[suggestion.pk])
    page = client.get(url).content.decode()
    assert 'name="_accept"' in page and 'name="_dismiss"' in page
    response = client.post(url, {"question": suggestion.question, "answer": "亲，冷冻保存三十天哦～",
                                 "_accept": "1"}, follow=True)
    assert "knowledge base answers it now" in response.content.decode()
    suggestion.refresh_from_db()
    assert suggestion.status == SuggestionStatus.ACCEPTED
    assert suggestion.created_item.answer == "亲，冷冻保存三十天哦～" and suggestion.decided_by == world.shop_admin


def test_dismissing_in_one_click_from_the_list(world, client, suggestion):
    client.force_login(world.shop_admin)
    client.post(reverse("admin:customer_service_knowledgesuggestion_changelist"),
                {"action": "dismiss_selected", "_selected_action": [suggestion.pk]})
    suggestion.refresh_from_db()
    assert suggestion.status == SuggestionStatus.DISMISSED


def test_an_agent_sees_the_suggestions_but_cannot_decide(world, client, suggestion):
    client.force_login(world.agent)
    listing = client.get(reverse("admin:customer_service_knowledgesuggestion_changelist")).content.decode()
    assert suggestion.question in listing and "accept_selected" not in listing
    url = reverse("admin:customer_service_knowledgesuggestion_change", args=[suggestion.pk])
    assert 'name="_accept"' not in client.get(url).content.decode()
    assert client.post(url, {"question": "x", "answer": "y", "_accept": "1"}).status_code == 403
    assert KnowledgeSuggestion.objects.get().status == SuggestionStatus.PENDING


def test_the_list_accepts_a_row_in_one_click_and_keeps_its_filters(world, client, suggestion):
    client.force_login(world.shop_admin)
    listing = reverse("admin:customer_service_knowledgesuggestion_changelist")
    page = client.get(listing, {"status__exact": "pending"}).content.decode()
    accept = reverse("admin:customer_service_knowledgesuggestion_accept", args=[suggestion.pk])
    assert f'formaction="{accept}?status__exact=pending"' in page
    response = client.post(f"{accept}?status__exact=pending")
    assert response.status_code == 302 and response["Location"] == f"{listing}?status__exact=pending"
    suggestion.refresh_from_db()
    assert suggestion.status == SuggestionStatus.ACCEPTED and suggestion.created_item.answer == ANSWER
    again = client.post(accept, follow=True).content.decode()
    assert "already decided" in again  # a second click is a readable message, not an error page
    assert 'data-decide="accept"' not in client.get(listing).content.decode()


def test_the_list_dismisses_a_row_in_one_click(world, client, suggestion):
    client.force_login(world.shop_admin)
    client.post(reverse("admin:customer_service_knowledgesuggestion_dismiss", args=[suggestion.pk]))
    suggestion.refresh_from_db()
    assert suggestion.status == SuggestionStatus.DISMISSED


def test_a_new_entry_without_an_answer_links_to_its_page_instead_of_accepting(world, client):
    rejected = knowledge_suggestion_record(item=reviewed(world.shop, status=ReviewStatus.REJECTED,
                                                         source=ReplySource.KB))
    client.force_login(world.shop_admin)
    page = client.get(reverse("admin:customer_service_knowledgesuggestion_changelist")).content.decode()
    change = reverse("admin:customer_service_knowledgesuggestion_change", args=[rejected.pk])
    assert f'<a class="button" href="{change}">Write the answer</a>' in page and 'data-decide="accept"' not in page


@pytest.mark.parametrize("person", ["agent", "outsider"])
def test_only_the_shops_admin_may_use_the_one_click_decisions(world, client, suggestion, person):
    client.force_login(getattr(world, person))
    assert 'data-decide' not in client.get(
        reverse("admin:customer_service_knowledgesuggestion_changelist")).content.decode()
    for decision in ("accept", "dismiss"):
        url = reverse(f"admin:customer_service_knowledgesuggestion_{decision}", args=[suggestion.pk])
        assert client.post(url).status_code in (403, 404)
        assert client.get(url).status_code in (404, 405)
    assert KnowledgeSuggestion.objects.get().status == SuggestionStatus.PENDING


def test_suggestions_are_counted_per_knowledge_entry(world, client, django_assert_num_queries):
    from customer_service.suggestions.selectors import knowledge_suggestion_counts_by_entry
    from knowledge.services import knowledge_item_create

    entry = knowledge_item_create(actor=world.shop_admin, shop=world.shop, question="蛋糕能放多久？", answer=ANSWER)
    other = knowledge_item_create(actor=world.outsider, shop=world.other_shop, question="保修多久？", answer="一年")
    for content in ("你们的蛋糕可以冷冻保存多久？", "你們的蛋糕 可以冷凍保存多久?", "蛋糕冷藏几天？"):
        knowledge_suggestion_record(item=reviewed(world.shop, status=ReviewStatus.EDITED, final_text=ANSWER,
                                                  content=content))  # another entry's answer: its phrasings
    knowledge_suggestion_record(item=reviewed(world.shop, status=ReviewStatus.REJECTED, source=ReplySource.KB,
                                              content="蛋糕可以邮寄吗？", knowledge_item=entry))  # its answer rejected
    knowledge_suggestion_record(item=reviewed(world.other_shop, status=ReviewStatus.REJECTED, source=ReplySource.KB,
                                              content="能保修吗？", knowledge_item=other))
    knowledge_suggestion_record(item=reviewed(world.shop, status=ReviewStatus.EDITED, final_text="全新的回答",
                                              content="有无糖的吗？"))  # an AI draft corrected: no entry

    knowledge_suggestion_counts_by_entry(user=world.shop_admin)  # the person's shop roles are read once
    with django_assert_num_queries(2):
        rows = knowledge_suggestion_counts_by_entry(user=world.shop_admin)
    assert [(r.item, r.phrasings, r.corrections, r.times, r.pending) for r in rows] == [(entry, 2, 1, 4, 3)]
    everything = knowledge_suggestion_counts_by_entry(user=world.superadmin)
    assert [(r.item, r.times) for r in everything] == [(entry, 4), (other, 1)]

    client.force_login(world.agent)
    url = reverse("admin:customer_service_knowledgesuggestion_by_entry")
    assert url in client.get(reverse("admin:customer_service_knowledgesuggestion_changelist")).content.decode()
    page = client.get(url).content.decode()
    assert f'data-entry="{entry.pk}"' in page and f'data-entry="{other.pk}"' not in page
    assert '<td class="times">4</td>' in page and '<td class="corrections">1</td>' in page
