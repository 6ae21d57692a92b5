"""Delivery on a real Celery worker over a real Redis: the backoff between attempts, and a dead channel that
holds the worker's call while the caller has long moved on."""

import time

import pytest

from customer_service.alerts.services import alert_raise
from customer_service.models import AlertChannelKind, AlertDelivery, AlertDeliveryStatus, AlertKind
from tests.customer_service.factories import ShopFactory

from .factories import AlertChannelFactory

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(request, monkeypatch):
    # Read by the worker's settings: one-second backoff steps, a short webhook timeout.
    monkeypatch.setenv("KEFU_ALERT_RETRY_BASE_SECONDS", "1")
    monkeypatch.setenv("KEFU_ALERT_WEBHOOK_TIMEOUT_SECONDS", "5")
    return request.getfixturevalue("celery_worker_process")


def wait_for(condition, seconds=30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_server_answering_500_twice_is_retried_with_growing_waits(worker, robots):
    AlertChannelFactory(kind=AlertChannelKind.WECOM, webhook_url=robots.wecom_url("k"))
    robots.script([500, 500])
    alert_raise(kind=AlertKind.PROVIDERS_DOWN, shop=ShopFactory(), key="chat", title="全部模型调用失败")
    assert wait_for(lambda: AlertDelivery.objects.filter(status=AlertDeliveryStatus.SENT).exists())
    delivery = AlertDelivery.objects.get()
    assert delivery.attempts == 3 and len(robots.requests) == 3
    first_wait, second_wait = robots.times[1] - robots.times[0], robots.times[2] - robots.times[1]
    assert first_wait >= 1.0 and second_wait >= 2.0  # the countdowns: 1 s, then 2 s


def test_a_hanging_channel_holds_the_worker_not_the_caller(worker, robots):
    robots.hang_seconds = 20
    AlertChannelFactory(kind=AlertChannelKind.WECOM, webhook_url=robots.wecom_url("k"))
    robots.script(["hang"])
    shop = ShopFactory()
    event = alert_raise(kind=AlertKind.UNKNOWN_SEND, shop=shop, title="回复发送未确认")
    # The caller has its event back; the worker is only now (or soon) stuck in the robot's call.
    assert event is not None
    assert wait_for(lambda: robots.in_flight == 1)
    second = alert_raise(kind=AlertKind.UNKNOWN_SEND, shop=shop, title="又一次")
    assert second.pk == event.pk and robots.in_flight == 1  # the caller carried on while the call hangs
    # The worker's timeout ends the hanging call; the delivery is retried and then sent.
    assert wait_for(lambda: AlertDelivery.objects.filter(status=AlertDeliveryStatus.SENT).exists(), 60)
    delivery = AlertDelivery.objects.get()
    assert delivery.attempts == 2 and len(robots.requests) == 2  # the timed-out call, then the retry
