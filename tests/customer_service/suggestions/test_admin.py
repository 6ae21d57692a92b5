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
