"""The pipeline's draft task tells the alerts how the AI providers did: every provider failing opens the shop's
``providers_down`` alert once (further failures count on it), the next draft made resolves it; the shop's
e-mail channel gets one alert and one "resolved" message on a real SMTP server on loopback.

Tasks run eagerly (the test settings): ingest → ``pipeline.process_message`` → ``pipeline.draft_reply``, the
LLM on billing's loopback server, down (HTTP 500) and then up again. The data is committed so the router's
own thread sees it.
"""

import email
from email.header import decode_header, make_header

import pytest

from customer_service.models import AlertChannelKind, AlertEvent, AlertKind, ReviewItem
from customer_service.pipeline.services import message_ingest
from tests.billing import conftest as billing_fixtures
from tests.configs.factories import shop_settings_template_ensure

from .factories import AlertChannelFactory

pytestmark = pytest.mark.django_db(transaction=True)

_llm_server, fake_llm, llm_config = billing_fixtures._llm_server, billing_fixtures.fake_llm, billing_fixtures.llm_config
_clean_breakers = billing_fixtures._clean_breakers


@pytest.fixture
def shop(world, settings):
    settings.KEFU_ALERT_RESOLVE_HOLD_SECONDS = 0  # the "resolved" message goes out at once
    settings.LANGUAGE_CODE = "zh-hans"
    shop_settings_template_ensure()
    return world.shop


def ask(shop, buyer, external_id):
    message, created = message_ingest(shop=shop, buyer_id=buyer, content="这款有XL吗？", external_id=external_id)
    assert created
    message.refresh_from_db()  # processed already: the eager process and draft tasks ran on commit
    return message, ReviewItem.objects.select_related("draft").get(message=message)


def subjects(smtp_server):
    return [str(make_header(decode_header(email.message_from_bytes(m["data"])["Subject"])))
            for m in smtp_server.messages]


def test_every_provider_down_raises_one_alert_and_the_next_draft_resolves_it(shop, llm_config, fake_llm,
                                                                             smtp_server):
    AlertChannelFactory(shop=shop, kind=AlertChannelKind.EMAIL, recipients="ops@example.com")
    llm_config("gpt-a", is_default=True)
    llm_config("gpt-b", priority=10)
    fake_llm.behave("gpt-a", "500")
    fake_llm.behave("gpt-b", "500")

    for n, buyer in enumerate(("小明", "小红"), start=1):
        message, item = ask(shop, buyer, f"down-{n}")
        assert (message.status, item.reason, item.draft) == ("review", "llm.failed", None)
    event = AlertEvent.objects.get()
    assert (event.kind, event.shop_id, event.key, event.count, event.is_open) == (
        AlertKind.PROVIDERS_DOWN, shop.pk, "chat", 2, True)
    assert "gpt-a: server_error" in event.message and "gpt-b: server_error" in event.message
    assert subjects(smtp_server) == ["【kefu 告警】甜品旗舰店 · 所有 AI 服务均失败"]

    fake_llm.behave("gpt-a", "ok", text="亲，XL有货的哦～")
    message, item = ask(shop, "小刚", "up-1")
    assert (message.status, item.draft.text) == ("review", "亲，XL有货的哦～")
    event.refresh_from_db()
    assert not event.is_open and event.count == 2
    assert AlertEvent.objects.count() == 1
    assert len(smtp_server.messages) == 2 and subjects(smtp_server)[1].startswith("【kefu 已恢复】甜品旗舰店")


def test_no_provider_configured_raises_no_alert(shop):
    """No draft because no provider is configured says nothing about the providers' health."""
    _message, item = ask(shop, "小明", "none-1")
    assert item.reason == "llm.no_provider"
    assert not AlertEvent.objects.exists()

