"""What is not sent in time is sent later: overdue retries, deliveries whose worker died, a person's resend."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from customer_service.alerts.services import alert_dispatch_due, alert_raise
from customer_service.models import AlertDelivery, AlertDeliveryStatus, AlertKind

from .factories import AlertChannelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivery(world, django_capture_on_commit_callbacks):
    AlertChannelFactory(shop=world.shop, recipients="ops@example.com")
    alert_raise(kind=AlertKind.UNKNOWN_SEND, shop=world.shop, title="回复发送未确认")
    with django_capture_on_commit_callbacks(execute=False):
        alert_dispatch_due(now=timezone.now() + timedelta(minutes=2))  # the fan-out; its send is never run
    return AlertDelivery.objects.get()


def test_a_delivery_left_sending_by_a_dead_worker_is_sent_again(delivery, django_capture_on_commit_callbacks):
    AlertDelivery.objects.filter(pk=delivery.pk).update(status=AlertDeliveryStatus.SENDING, attempts=1,
                                                        claimed_at=timezone.now())
    assert alert_dispatch_due()["resent"] == 0  # still within its attempt
    later = timezone.now() + timedelta(minutes=11)
    with django_capture_on_commit_callbacks(execute=True):
        assert alert_dispatch_due(now=later)["resent"] == 1
    delivery.refresh_from_db()
    assert delivery.status == AlertDeliveryStatus.SENT and delivery.attempts == 2 and len(mail.outbox) == 1


def test_an_overdue_retry_whose_message_was_lost_is_sent(delivery):
    AlertDelivery.objects.filter(pk=delivery.pk).update(status=AlertDeliveryStatus.RETRYING, attempts=1,
                                                        next_attempt_at=timezone.now())
    assert alert_dispatch_due()["resent"] == 0  # not overdue yet: its own task may still come
    assert alert_dispatch_due(now=timezone.now() + timedelta(minutes=2))["resent"] == 1
    delivery.refresh_from_db()
    assert delivery.status == AlertDeliveryStatus.SENT and len(mail.outbox) == 1


def test_a_shop_admin_sends_a_failed_message_again_from_the_admin(world, client, delivery,
                                                                 django_capture_on_commit_callbacks):
    AlertDelivery.objects.filter(pk=delivery.pk).update(status=AlertDeliveryStatus.FAILED, attempts=6,
                                                        last_error="boom")
    client.force_login(world.shop_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:customer_service_alertdelivery_changelist"),
                               {"action": "send_again", "_selected_action": [delivery.pk]}, follow=True)
    assert response.status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == AlertDeliveryStatus.SENT and delivery.attempts == 1 and len(mail.outbox) == 1


@pytest.mark.parametrize("role", ["superadmin", "shop_admin", "agent"])
def test_the_alert_admin_pages_open_for_each_role(world, client, delivery, settings, role):
    settings.LANGUAGE_CODE = "zh-hans"
    client.force_login(getattr(world, role))
    event = world.shop.alert_events.get()
    pages = [reverse("admin:customer_service_alertevent_change", args=[event.pk]),
             reverse("admin:customer_service_alertevent_changelist")]
    if role != "agent":
        pages += [reverse("admin:customer_service_alertchannel_add"),
                  reverse("admin:customer_service_alertchannel_change", args=[delivery.channel_id]),
                  reverse("admin:customer_service_alertdelivery_change", args=[delivery.pk])]
    for url in pages:
        response = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert response.status_code == 200, url
    assert "告警" in client.get(pages[1], HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
