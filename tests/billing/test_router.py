import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing import breaker, router
from billing.exceptions import AllProvidersFailed, BillingError, NoProviderConfigured
from billing.models import AIModel, ModelPricing, RequestLog, ShopModelChoice, UsageRecord

pytestmark = pytest.mark.django_db

HELLO = [{"role": "system", "content": "你是客服"}, {"role": "user", "content": "发货了吗？"}]


def test_a_call_returns_text_model_and_a_usage_record_with_decimal_cost(llm_config, fake_llm, world):
    config = llm_config("gpt-a", is_default=True)
    fake_llm.behave("gpt-a", "ok", prompt_tokens=12, completion_tokens=5, text="已发货")

    result = router.chat(HELLO, user=world.agent, shop=world.shop, message=42)

    assert result.text == "已发货"
    assert result.model == config.model
    usage = result.usage
    assert usage.status == "success" and usage.attempt == 1
    assert (usage.input_tokens, usage.output_tokens) == (12, 5)
    # 12 × 0.002 / 1000 + 5 × 0.003 / 1000
    assert usage.cost == Decimal("0.000039")
    assert isinstance(usage.cost, Decimal)
    assert usage.message_ref == 42 and usage.shop == world.shop and usage.user == world.agent
    assert fake_llm.requests[0]["body"]["messages"] == HELLO


def test_fails_over_in_order_default_then_priority_with_one_record_per_attempt(llm_config, fake_llm, world):
    llm_config("gpt-c", priority=20)
    llm_config("gpt-b", priority=10)
    llm_config("gpt-a", priority=50, is_default=True)
    fake_llm.behave("gpt-a", "500")
    fake_llm.behave("gpt-b", "429")

    result = router.chat(HELLO, user=world.agent, shop=world.shop)

    assert result.config.model_code == "gpt-c"
    records = list(UsageRecord.objects.order_by("attempt"))
    assert [(r.config.model_code, r.attempt, r.status, r.error_code) for r in records] == [
        ("gpt-a", 1, "error", "server_error"),
        ("gpt-b", 2, "error", "rate_limited"),
        ("gpt-c", 3, "success", ""),
    ]
    assert len({r.request_id for r in records}) == 1
    assert records[0].cost == records[1].cost == Decimal("0")
    # no SDK retries: every config was asked exactly once
    assert dict(fake_llm.calls) == {"gpt-a": 1, "gpt-b": 1, "gpt-c": 1}


@pytest.mark.parametrize(
    ("behaviour", "error_code"),
    [
        ("500", "server_error"),
        ("429", "rate_limited"),
        ("slow", "timeout"),
        ("malformed", "bad_response"),
        ("drop", "connection"),
        ("quota_openai", "quota_exhausted"),
        ("quota_deepseek", "quota_exhausted"),
        ("quota_dashscope", "quota_exhausted"),
        ("quota_moonshot", "quota_exhausted"),
    ],
)
def test_every_provider_failure_fails_over(behaviour, error_code, llm_config, fake_llm, world):
    llm_config("gpt-a", is_default=True, timeout_seconds=0.3)
    llm_config("gpt-b", priority=10)
    fake_llm.behave("gpt-a", behaviour, delay=1.0)

    result = router.chat(HELLO, user=world.agent, shop=world.shop)

    assert result.config.model_code == "gpt-b"
    failed = UsageRecord.objects.get(attempt=1)
    assert (failed.status, failed.error_code) == ("error", error_code)
    assert "sk-test" not in failed.error_text
    if behaviour in ("500", "429"):  # the fake provider quoted the key: only its masked form is kept
        assert "for key Bearer sk-te***" in failed.error_text


def test_anthropic_quota_error_fails_over_and_usd_price_is_converted(
    anthropic_config, llm_config, fake_anthropic, fake_llm, world, settings
):
    settings.KEFU_BILLING_USD_CNY_RATE = "7.20"
    claude = anthropic_config("claude-a", is_default=True)
    fake_anthropic.behave("claude-a", "ok", prompt_tokens=12, completion_tokens=5, text="Hi")

    ok = router.chat(HELLO, user=world.agent, shop=world.shop)

    assert ok.text == "Hi" and ok.config == claude
    # (12 × 0.001 + 5 × 0.005) / 1000 USD × 7.20
    assert ok.usage.cost == Decimal("0.000266")
    assert fake_anthropic.requests[0]["body"]["system"] == "你是客服"

    llm_config("gpt-b", priority=10)
    fake_anthropic.behave("claude-a", "quota_anthropic")
    result = router.chat(HELLO, user=world.agent, shop=world.shop)
    assert result.config.model_code == "gpt-b"
    assert UsageRecord.objects.filter(config=claude, error_code="quota_exhausted").count() == 1


def test_quota_exhaustion_opens_the_breaker_at_once(llm_config, fake_llm, world):
    llm_config("gpt-a", is_default=True)
    llm_config("gpt-b", priority=10)
    fake_llm.behave("gpt-a", "quota_deepseek")

    router.chat(HELLO, user=world.agent, shop=world.shop)
    second = router.chat(HELLO, user=world.agent, shop=world.shop)

    assert fake_llm.calls["gpt-a"] == 1
    assert second.attempts[0]["skipped"] == "circuit_open"
    assert second.usage.attempt == 1  # the skipped config is no attempt


def test_breaker_opens_then_half_opens_one_trial_then_closes(llm_config, fake_llm, world, settings, time_machine):
    time_machine.move_to(time.time())
    settings.KEFU_BILLING_BREAKER_FAILURES = 3
    settings.KEFU_BILLING_BREAKER_COOLDOWN_SECONDS = 30
    a = llm_config("gpt-a", is_default=True)
    llm_config("gpt-b", priority=10)
    fake_llm.behave("gpt-a", ["500", "500", "500", "ok"])

    for _ in range(3):
        assert router.chat(HELLO, user=world.agent).config.model_code == "gpt-b"
    assert breaker.state(a.pk) == breaker.OPEN

    # open: no request reaches gpt-a
    assert router.chat(HELLO, user=world.agent).config.model_code == "gpt-b"
    assert fake_llm.calls["gpt-a"] == 3

    time_machine.shift(29)
    assert breaker.state(a.pk) == breaker.OPEN
    time_machine.shift(2)
    assert breaker.state(a.pk) == breaker.HALF_OPEN
    # half-open: only one caller gets the trial
    allowed, observed = breaker.allow(a.pk)
    assert (allowed, observed) == (True, breaker.HALF_OPEN)
    assert breaker.allow(a.pk) == (False, breaker.HALF_OPEN)
    breaker.release_trial(a.pk)

    trial = router.chat(HELLO, user=world.agent)
    assert trial.config == a and fake_llm.calls["gpt-a"] == 4
    assert breaker.state(a.pk) == breaker.CLOSED
    assert router.chat(HELLO, user=world.agent).config == a


def test_a_failed_half_open_trial_opens_the_breaker_again(llm_config, fake_llm, world, settings, time_machine):
    time_machine.move_to(time.time())
    settings.KEFU_BILLING_BREAKER_FAILURES = 2
    settings.KEFU_BILLING_BREAKER_COOLDOWN_SECONDS = 30
    a = llm_config("gpt-a", is_default=True)
    llm_config("gpt-b", priority=10)
    fake_llm.behave("gpt-a", "500")
    router.chat(HELLO, user=world.agent)
    router.chat(HELLO, user=world.agent)
    assert breaker.state(a.pk) == breaker.OPEN
    time_machine.shift(31)

    router.chat(HELLO, user=world.agent)  # the trial, fails

    assert fake_llm.calls["gpt-a"] == 3
    assert breaker.state(a.pk) == breaker.OPEN
    router.chat(HELLO, user=world.agent)
    assert fake_llm.calls["gpt-a"] == 3


def test_a_disabled_config_is_never_called(llm_config, fake_llm, world):
    llm_config("gpt-a", is_default=True, is_active=False)
    llm_config("gpt-b", priority=10)

    result = router.chat(HELLO, user=world.agent)

    assert result.config.model_code == "gpt-b"
    assert "gpt-a" not in fake_llm.calls


def test_when_every_candidate_fails_one_error_lists_the_attempts(llm_config, fake_llm, world):
    llm_config("gpt-a", is_default=True)
    llm_config("gpt-b", priority=10)
    fake_llm.behave("gpt-a", "500")
    fake_llm.behave("gpt-b", "drop")

    with pytest.raises(AllProvidersFailed) as caught:
        router.chat(HELLO, user=world.agent, shop=world.shop, message=7)

    assert caught.value.code == "all_providers_failed"
    assert [a["error"] for a in caught.value.detail["attempts"]] == ["server_error", "connection"]
    assert UsageRecord.objects.filter(message_ref=7, status="error").count() == 2


def test_no_config_raises_the_same_error_family(db, world):
    with pytest.raises(AllProvidersFailed) as caught:
        router.chat(HELLO, user=world.agent)
    assert isinstance(caught.value, NoProviderConfigured)


def test_bad_messages_are_refused_before_any_call(llm_config, fake_llm, world):
    llm_config("gpt-a")
    for bad in ([], "hi", [{"role": "robot", "content": "x"}], [{"role": "user", "content": 3}]):
        with pytest.raises(BillingError):
            router.chat(bad, user=world.agent)
    assert not fake_llm.requests


def test_the_price_in_force_at_call_time_is_used(llm_config, fake_llm, world):
    config = llm_config("gpt-a", per_1k_in="1", per_1k_out="1")
    now = timezone.now()
    ModelPricing.objects.filter(model=config.model).update(effective_to=now - timedelta(hours=1))
    ModelPricing.objects.create(model=config.model, pricing_type="input_1k", unit_price=Decimal("0.5"),
                                currency="CNY", effective_from=now - timedelta(hours=1))
    ModelPricing.objects.create(model=config.model, pricing_type="output_1k", unit_price=Decimal("2"),
                                currency="CNY", effective_from=now - timedelta(hours=1))
    fake_llm.behave("gpt-a", "ok", prompt_tokens=1000, completion_tokens=500)

    result = router.chat(HELLO, user=world.agent)

    assert result.usage.cost == Decimal("1.500000")


def test_a_config_whose_model_is_missing_from_the_catalogue_gets_it_created(llm_config, fake_llm, world):
    config = llm_config("gpt-a")
    config.model_code = "brand-new-model"
    config.model = None
    config.save()

    result = router.chat(HELLO, user=world.agent)

    created = AIModel.objects.get(code="brand-new-model", provider=config.provider)
    assert result.usage.model == created
    config.refresh_from_db()
    assert config.model == created


def test_user_own_config_and_shop_choice_come_first(llm_config, fake_llm, world):
    llm_config("gpt-system", is_default=True)
    own = llm_config("gpt-own", owner=world.agent, priority=999)
    chosen = llm_config("gpt-shop", priority=500)
    ShopModelChoice.objects.create(shop=world.shop, capability="text", config=chosen)

    assert router.chat(HELLO, user=world.agent).config == own
    assert router.chat(HELLO, user=world.agent, shop=world.shop).config == chosen
    assert router.chat(HELLO, user=world.shop_admin).config.model_code == "gpt-system"
    assert router.chat(HELLO, user=world.agent, config=own).config == own
    # another person's key is never used, even when asked for by id
    assert router.chat(HELLO, user=world.shop_admin, config=own).config.model_code == "gpt-system"


def test_embed_returns_vectors_and_meters_input_tokens(llm_config, fake_llm, world):
    llm_config("emb-a", capability="embedding", per_1k_in="0.0005", per_1k_out="0")
    fake_llm.behave("emb-a", "ok", prompt_tokens=2000)

    result = router.embed(["退货", "运费险"], user=world.agent, shop=world.shop)

    assert len(result.vectors) == 2 and result.vectors[0][0] == 2.0
    assert result.usage.usage_type == "embedding"
    assert result.usage.cost == Decimal("0.001000")


def test_request_log_is_kept_only_where_asked_and_without_secrets(llm_config, fake_llm, world):
    quiet = llm_config("gpt-quiet", is_default=True)
    router.chat(HELLO, user=world.agent)
    assert not RequestLog.objects.exists()

    quiet.is_active = False
    quiet.save()
    llm_config("gpt-logged", log_requests=True)
    secret = [{"role": "user", "content": "my key is sk-abcdefghijklmnopqrstuv please"}]
    result = router.chat(secret, user=world.agent)

    log = RequestLog.objects.get(usage=result.usage)
    assert RequestLog.objects.count() == 1  # the quiet config's call kept nothing
    assert "my key is sk-ab***" in log.prompt and "sk-abcdefghijklmnop" not in log.prompt
    assert log.response == "亲，您好！已为您查询。"


def test_a_config_disabled_after_the_routing_snapshot_was_loaded_is_not_called(llm_config, fake_llm, world):
    from billing.services import model_config_disable

    a = llm_config("gpt-a", is_default=True)
    llm_config("gpt-b", priority=10)
    assert router.chat(HELLO, user=world.agent).config == a

    model_config_disable(actor=world.superadmin, config=a)

    assert router.chat(HELLO, user=world.agent).config.model_code == "gpt-b"
    assert fake_llm.calls["gpt-a"] == 1


def test_another_process_sees_changes_through_the_shared_routing_version(llm_config, fake_llm, world):
    from billing import routing

    llm_config("gpt-a", is_default=True)
    router.chat(HELLO, user=world.agent)
    loaded = routing.current()
    assert routing.current() is loaded  # reused while nothing changed

    routing.invalidate()  # what a save in any process does, through the shared cache

    assert routing.current() is not loaded


def test_provider_http_requests_are_not_logged_line_by_line(llm_config, fake_llm, world, caplog):
    llm_config("gpt-quiet", is_default=True)
    fake_llm.behave("gpt-quiet", "ok")
    with caplog.at_level("INFO"):
        router.chat(HELLO, user=world.agent, shop=world.shop)
    assert not [r for r in caplog.records if r.name.startswith(("httpx", "httpcore")) and r.levelno < 30]
