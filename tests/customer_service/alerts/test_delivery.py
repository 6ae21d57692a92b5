"""Alerts reach real servers on loopback: an SMTP server and robots that check formats and signatures."""

import email
from email.header import decode_header, make_header

import pytest

from customer_service.alerts.services import alert_raise, alert_resolve, retry_delay
from customer_service.models import AlertChannelKind, AlertDelivery, AlertDeliveryStatus, AlertKind
from tests.customer_service.factories import ShopFactory

from .factories import AlertChannelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    return ShopFactory(name="甜品旗舰店")


@pytest.fixture
def chinese(settings):
    settings.LANGUAGE_CODE = "zh-hans"


def _raise_and_resolve(shop, settings, capture):
    settings.KEFU_ALERT_RESOLVE_HOLD_SECONDS = 0
    with capture(execute=True):
        alert_raise(kind=AlertKind.PROVIDERS_DOWN, shop=shop, key="chat", title="全部模型调用失败",
                    message="deepseek: 超时; qwen: HTTP 500")
        alert_raise(kind=AlertKind.PROVIDERS_DOWN, shop=shop, key="chat", title="全部模型调用失败")
        alert_resolve(kind=AlertKind.PROVIDERS_DOWN, shop=shop, key="chat")


def test_email_reaches_a_real_smtp_server_once_per_phase(shop, settings, smtp_server, chinese,
                                                         django_capture_on_commit_callbacks):
    AlertChannelFactory(shop=shop, kind=AlertChannelKind.EMAIL, recipients="ops@example.com\nboss@example.com")
    _raise_and_resolve(shop, settings, django_capture_on_commit_callbacks)
    assert [m["to"] for m in smtp_server.messages] == [["ops@example.com", "boss@example.com"]] * 2
    first, second = (email.message_from_bytes(m["data"]) for m in smtp_server.messages)
    assert str(make_header(decode_header(first["Subject"]))) == "【kefu 告警】甜品旗舰店 · 所有 AI 服务均失败"
    assert str(make_header(decode_header(second["Subject"]))).startswith("【kefu 已恢复】甜品旗舰店")
    body = first.get_payload(decode=True).decode()
    assert "全部模型调用失败" in body and "次数: 2" in body


def test_wecom_gets_its_markdown_message(shop, settings, robots, chinese, django_capture_on_commit_callbacks):
    AlertChannelFactory(kind=AlertChannelKind.WECOM, webhook_url=robots.wecom_url("k-123"))
    _raise_and_resolve(shop, settings, django_capture_on_commit_callbacks)
    assert [r["body"]["msgtype"] for r in robots.requests] == ["markdown", "markdown"]
    assert robots.requests[0]["content_type"].startswith("application/json")
    assert "【kefu 告警】甜品旗舰店" in robots.requests[0]["body"]["markdown"]["content"]
    assert "【kefu 已恢复】" in robots.requests[1]["body"]["markdown"]["content"]
    assert AlertDelivery.objects.filter(status=AlertDeliveryStatus.SENT).count() == 2


def test_dingtalk_calls_are_signed_as_dingtalk_checks(shop, settings, robots, django_capture_on_commit_callbacks):
    channel = AlertChannelFactory(kind=AlertChannelKind.DINGTALK, secret="SEC-ding",
                                  webhook_url=robots.dingtalk_url("tok", secret="SEC-ding"))
    _raise_and_resolve(shop, settings, django_capture_on_commit_callbacks)
    assert len(robots.requests) == 2
    assert all(r["query"]["sign"] and r["query"]["timestamp"].isdigit() for r in robots.requests)
    assert robots.requests[0]["body"]["markdown"]["title"].startswith("[kefu alert]")
    assert set(AlertDelivery.objects.values_list("status", flat=True)) == {AlertDeliveryStatus.SENT}
    channel.refresh_from_db()
    assert channel.last_sent_at and not channel.last_error


def test_a_wrong_dingtalk_secret_is_a_failure_recorded_and_not_retried(shop, robots,
                                                                      django_capture_on_commit_callbacks):
    channel = AlertChannelFactory(kind=AlertChannelKind.DINGTALK, secret="wrong",
                                  webhook_url=robots.dingtalk_url("tok", secret="right"))
    with django_capture_on_commit_callbacks(execute=True):
        alert_raise(kind=AlertKind.UNKNOWN_SEND, shop=shop, title="未确认")
    delivery = AlertDelivery.objects.get()
    assert delivery.status == AlertDeliveryStatus.FAILED and delivery.attempts == 1
    assert "310000" in delivery.last_error and "sign not match" in delivery.last_error
    channel.refresh_from_db()
    assert channel.last_failed_at and "310000" in channel.last_error
    assert "tok" not in delivery.last_error


def test_feishu_calls_carry_feishus_signature(shop, settings, robots, django_capture_on_commit_callbacks):
    AlertChannelFactory(kind=AlertChannelKind.FEISHU, secret="SEC-fs", webhook_url=robots.feishu_url("hook1", "SEC-fs"))
    AlertChannelFactory(kind=AlertChannelKind.FEISHU, webhook_url=robots.feishu_url("hook2"))
    _raise_and_resolve(shop, settings, django_capture_on_commit_callbacks)
    signed = [r for r in robots.requests if r["path"].endswith("hook1")]
    unsigned = [r for r in robots.requests if r["path"].endswith("hook2")]
    assert len(signed) == len(unsigned) == 2
    assert all(r["body"]["sign"] and r["body"]["timestamp"] for r in signed)
    assert all("sign" not in r["body"] for r in unsigned)
    assert signed[0]["body"]["content"]["text"].startswith("[kefu alert]")
    assert set(AlertDelivery.objects.values_list("status", flat=True)) == {AlertDeliveryStatus.SENT}


def test_a_server_answering_500_then_200_is_retried(shop, robots, django_capture_on_commit_callbacks):
    AlertChannelFactory(kind=AlertChannelKind.WECOM, webhook_url=robots.wecom_url("k"))
    robots.script([500, 503])
    with django_capture_on_commit_callbacks(execute=True):
        alert_raise(kind=AlertKind.REVIEW_DEADLINE, shop=shop, title="审核超时")
    delivery = AlertDelivery.objects.get()
    assert delivery.status == AlertDeliveryStatus.SENT and delivery.attempts == 3
    assert len(robots.requests) == 3


def test_a_channel_that_keeps_failing_ends_failed_after_the_last_attempt(shop, settings, robots,
                                                                       django_capture_on_commit_callbacks):
    settings.KEFU_ALERT_DELIVERY_MAX_ATTEMPTS = 3
    AlertChannelFactory(kind=AlertChannelKind.WECOM, webhook_url=robots.wecom_url("k"))
    robots.script([500] * 10)
    with django_capture_on_commit_callbacks(execute=True):
        alert_raise(kind=AlertKind.REVIEW_DEADLINE, shop=shop, title="审核超时")
    delivery = AlertDelivery.objects.get()
    assert delivery.status == AlertDeliveryStatus.FAILED and delivery.attempts == 3
    assert "HTTP 500" in delivery.last_error and len(robots.requests) == 3


def test_the_backoff_doubles_up_to_its_cap(settings):
    settings.KEFU_ALERT_RETRY_BASE_SECONDS, settings.KEFU_ALERT_RETRY_MAX_SECONDS = 30, 200
    assert [retry_delay(n) for n in range(1, 6)] == [30, 60, 120, 200, 200]


def test_a_shop_channel_may_not_call_loopback_unless_a_superadmin_allowed_it(shop, robots, allow_webhook_hosts,
                                                                            django_capture_on_commit_callbacks):
    AlertChannelFactory(shop=shop, kind=AlertChannelKind.WECOM, webhook_url=robots.wecom_url("k"))
    with django_capture_on_commit_callbacks(execute=True):
        alert_raise(kind=AlertKind.UNKNOWN_SEND, shop=shop, key="1", title="x")
    refused = AlertDelivery.objects.get()
    assert refused.status == AlertDeliveryStatus.FAILED and robots.requests == []
    allow_webhook_hosts(robots.host)
    with django_capture_on_commit_callbacks(execute=True):
        alert_raise(kind=AlertKind.UNKNOWN_SEND, shop=shop, key="2", title="x")
    assert AlertDelivery.objects.filter(status=AlertDeliveryStatus.SENT).count() == 1 and len(robots.requests) == 1
