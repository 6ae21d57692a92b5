"""The conversations and messages admin: read-only, scoped, "send to review" through the service."""

import pytest
from django.urls import reverse

from customer_service.models import MessageStatus, ReviewItem
from tests.configs.factories import shop_settings_template_ensure
from tests.customer_service.factories import MessageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _settings_template(db):
    shop_settings_template_ensure()


def test_an_agent_sees_their_shops_conversation_with_its_messages_read_only(world, client):
    message = MessageFactory(conversation__shop=world.shop, content="有没有XL")
    MessageFactory(conversation__shop=world.other_shop, content="别家的消息")
    client.force_login(world.agent)
    page = client.get(reverse("admin:customer_service_message_changelist")).content.decode()
    assert "有没有XL" in page and "别家的消息" not in page
    detail = client.get(reverse("admin:customer_service_conversation_change", args=[message.conversation_id]))
    assert detail.status_code == 200
    assert "有没有XL" in detail.content.decode() and 'name="_save"' not in detail.content.decode()
    response = client.post(reverse("admin:customer_service_message_change", args=[message.pk]),
                           {"content": "改掉"})
    assert response.status_code == 403


def test_a_foreign_message_page_is_not_shown(world, client):
    foreign = MessageFactory(conversation__shop=world.other_shop)
    client.force_login(world.agent)
    response = client.get(reverse("admin:customer_service_message_change", args=[foreign.pk]))
    assert response.status_code in (302, 404)


def test_send_to_review_puts_a_handled_message_in_the_queue_and_refuses_one_in_flight(world, client):
    answered = MessageFactory(conversation__shop=world.shop, status=MessageStatus.ANSWERED)
    waiting = MessageFactory(conversation__shop=world.shop, status=MessageStatus.NEW)
    foreign = MessageFactory(conversation__shop=world.other_shop, status=MessageStatus.IGNORED)
    client.force_login(world.agent)
    response = client.post(reverse("admin:customer_service_message_changelist"), {
        "action": "send_to_review", "_selected_action": [answered.pk, waiting.pk, foreign.pk],
    }, follow=True)
    assert response.status_code == 200
    item = ReviewItem.objects.get()
    assert (item.message, item.reason, item.status) == (answered, "manual", "pending")
    answered.refresh_from_db()
    waiting.refresh_from_db()
    foreign.refresh_from_db()
    assert (answered.status, waiting.status, foreign.status) == ("review", "new", "ignored")
    assert "1 message sent to review." in response.content.decode()
