"""alert_raise / alert_resolve: one open event per (shop, kind, key), one alert and one "resolved" per outage."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customer_service.alerts.services import alert_dispatch_due, alert_raise, alert_resolve
from customer_service.models import AlertDelivery, AlertDeliveryStatus, AlertEvent, AlertKind, AlertPhase
from tests.customer_service.factories import ShopFactory

from .factories import AlertChannelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    return ShopFactory(name="甜品旗舰店")


def test_raising_twice_counts_on_the_one_open_event(shop):
    first = alert_raise(kind=AlertKind.PROVIDERS_DOWN, shop=shop, key="chat", title="every provider failed")
    second = alert_raise(kind=AlertKind.PROVIDERS_DOWN, shop=shop, key="chat", title="still failing")
    assert first.pk == second.pk
    event = AlertEvent.objects.get()
    assert event.count == 2 and event.title == "still failing" and event.is_open
    assert event.last_seen >= event.first_seen


def test_shop_kind_and_key_each_make_their_own_event(shop):
    other = ShopFactory()
    alert_raise(kind=AlertKind.PROVIDERS_DOWN, shop=shop, key="chat", title="a")
    alert_raise(kind=AlertKind.PROVIDERS_DOWN, shop=shop, key="embedding", title="b")
    alert_raise(kind=AlertKind.PROVIDERS_DOWN, shop=other, key="chat", title="c")
    alert_raise(kind=AlertKind.PROVIDERS_DOWN, shop=None, key="chat", title="d")
    alert_raise(kind=AlertKind.PROVIDERS_DOWN, shop=None, key="chat", title="e")
    alert_raise(kind=AlertKind.UNKNOWN_SEND, shop=shop, key="chat", title="f")
    assert AlertEvent.objects.count() == 5
    assert AlertEvent.objects.get(shop=None).count == 2


def test_buyer_phone_numbers_and_addresses_are_masked(shop):
    event = alert_raise(kind=AlertKind.UNKNOWN_SEND, shop=shop, title="买家 13812345678 的回复未确认",
                        message="地址 浙江省杭州市西湖区文三路 100号 3栋402室，邮箱 buyer@qq.com")
    assert "13812345678" not in event.title and "***" in event.title
    assert "文三路" not in event.message and "buyer@qq.com" not in event.message


def test_resolving_with_nothing_open_is_one_read_and_no_transaction(shop):
    """Every successful draft, send and check resolves: on SQLite a transaction would take the write lock."""
    alert_raise(kind=AlertKind.PROVIDERS_DOWN, shop=shop, key="embedding", title="another key stays open")
    with CaptureQueriesContext(connection) as queries:
        assert alert_resolve(kind=AlertKind.PROVIDERS_DOWN, shop=shop, key="chat") is None
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["SELECT"]
    assert AlertEvent.objects.get().is_open


def test_a_bad_call_never_raises_into_the_caller(shop):
    assert alert_raise(kind="no_such_kind", shop=shop, title="x") is None
    assert alert_raise(kind=AlertKind.SAFETY_BLOCK, shop=shop, title="x", detail={"obj": object()}) is not None
    assert alert_raise(kind=AlertKind.SAFETY_BLOCK, shop=999_999, key="gone", title="x") is None
    assert alert_resolve(kind=AlertKind.SAFETY_BLOCK, shop=shop, key="nothing open") is None


def test_a_failure_inside_the_callers_transaction_leaves_it_usable(shop):
    with transaction.atomic():
        assert alert_raise(kind=AlertKind.SAFETY_BLOCK, shop=999_999, title="x") is None
        shop.name = "改名"
        shop.save()
    shop.refresh_from_db()
    assert shop.name == "改名"


def test_the_alert_is_sent_when_the_callers_transaction_commits_and_not_if_it_rolls_back(
        shop, django_capture_on_commit_callbacks):
    AlertChannelFactory(shop=shop)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        alert_raise(kind=AlertKind.REVIEW_BACKLOG, shop=shop, title="积压")
        assert mail.outbox == []
    assert len(mail.outbox) == 1
    try:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            alert_raise(kind=AlertKind.BUDGET_WARNING, shop=shop, title="预算")
            raise RuntimeError("the caller fails")
    except RuntimeError:
        pass
    assert len(mail.outbox) == 1
    assert not AlertEvent.objects.filter(kind=AlertKind.BUDGET_WARNING).exists()


def test_one_outage_sends_one_alert_and_one_resolved_message(shop, settings, django_capture_on_commit_callbacks):
    settings.KEFU_ALERT_RESOLVE_HOLD_SECONDS = 0
    AlertChannelFactory(shop=shop, recipients="a@example.com, b@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            alert_raise(kind=AlertKind.PROVIDERS_DOWN, shop=shop, key="chat", title="全部模型调用失败")
        alert_resolve(kind=AlertKind.PROVIDERS_DOWN, shop=shop, key="chat")
        alert_resolve(kind=AlertKind.PROVIDERS_DOWN, shop=shop, key="chat")
    assert len(mail.outbox) == 2
    assert mail.outbox[0].to == ["a@example.com", "b@example.com"]
    assert "alert" in mail.outbox[0].subject and "resolved" in mail.outbox[1].subject
    assert "Occurrences: 5" in mail.outbox[0].body
    assert AlertEvent.objects.get().resolve_notified_at is not None
    assert AlertDelivery.objects.filter(status=AlertDeliveryStatus.SENT).count() == 2


def test_a_problem_back_within_the_hold_is_the_same_outage(shop, settings, django_capture_on_commit_callbacks):
    settings.KEFU_ALERT_RESOLVE_HOLD_SECONDS = 300
    AlertChannelFactory(shop=shop)
    with django_capture_on_commit_callbacks(execute=True):
        alert_raise(kind=AlertKind.PROVIDERS_DOWN, shop=shop, key="chat", title="down")
        alert_resolve(kind=AlertKind.PROVIDERS_DOWN, shop=shop, key="chat")
        alert_raise(kind=AlertKind.PROVIDERS_DOWN, shop=shop, key="chat", title="down again")
        alert_resolve(kind=AlertKind.PROVIDERS_DOWN, shop=shop, key="chat")
    event = AlertEvent.objects.get()
    assert event.count == 2 and not event.is_open
    assert len(mail.outbox) == 1  # the alert; the resolution waits for the hold
    with django_capture_on_commit_callbacks(execute=True):
        assert alert_dispatch_due()["resolved"] == 0
        assert alert_dispatch_due(now=timezone.now() + timedelta(seconds=301))["resolved"] == 1
        alert_dispatch_due(now=timezone.now() + timedelta(seconds=400))
    assert [m.subject.split("]")[0] for m in mail.outbox] == ["[kefu alert", "[kefu resolved"]
    # After the resolution went out, the same problem is a new outage.
    with django_capture_on_commit_callbacks(execute=True):
        alert_raise(kind=AlertKind.PROVIDERS_DOWN, shop=shop, key="chat", title="down once more")
    assert AlertEvent.objects.count() == 2 and len(mail.outbox) == 3


def test_global_channels_hear_every_shop_and_shop_channels_only_theirs(shop, django_capture_on_commit_callbacks):
    other = ShopFactory()
    AlertChannelFactory(shop=None, recipients="root@example.com")
    AlertChannelFactory(shop=shop, recipients="shop@example.com")
    AlertChannelFactory(shop=other, recipients="other@example.com")
    AlertChannelFactory(shop=shop, recipients="budget@example.com", event_kinds=[AlertKind.BUDGET_EXHAUSTED])
    AlertChannelFactory(shop=shop, recipients="off@example.com", is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        alert_raise(kind=AlertKind.UNKNOWN_SEND, shop=shop, title="未确认")
    assert sorted(m.to[0] for m in mail.outbox) == ["root@example.com", "shop@example.com"]


def test_a_channel_over_its_hourly_limit_records_suppressed_messages(shop, settings,
                                                                    django_capture_on_commit_callbacks):
    settings.KEFU_ALERT_CHANNEL_HOURLY_LIMIT = 2
    AlertChannelFactory(shop=shop)
    with django_capture_on_commit_callbacks(execute=True):
        for key in "abc":
            alert_raise(kind=AlertKind.UNKNOWN_SEND, shop=shop, key=key, title=key)
    assert len(mail.outbox) == 2
    suppressed = AlertDelivery.objects.get(status=AlertDeliveryStatus.SUPPRESSED)
    assert suppressed.phase == AlertPhase.RAISED and "2" in suppressed.last_error


def test_a_lost_enqueue_is_caught_up_by_the_dispatch_run(shop, django_capture_on_commit_callbacks):
    AlertChannelFactory(shop=shop)
    alert_raise(kind=AlertKind.DESKTOP_PAUSED, shop=shop, title="桌面端已暂停")  # on-commit callback never run
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        assert alert_dispatch_due(now=timezone.now() + timedelta(minutes=2))["raised"] == 1
    assert len(mail.outbox) == 1
    with django_capture_on_commit_callbacks(execute=True):
        alert_dispatch_due(now=timezone.now() + timedelta(minutes=3))
    assert len(mail.outbox) == 1
