import threading
from decimal import Decimal

import pytest
from django.db import connection

from billing import router
from billing.budgets import usage_counters
from billing.exceptions import AllProvidersFailed, BudgetExceeded
from billing.models import SpendCounter, UsageRecord
from billing.services import budget_set
from tests.accounts.factories import UserFactory

MESSAGES = [{"role": "user", "content": "x" * 10}]  # the router reserves 10 + 8 input tokens for this


def _run_concurrently(n, fn):
    results, barrier = [], threading.Barrier(n)
    lock = threading.Lock()

    def worker():
        try:
            barrier.wait()
            outcome = fn()
        except Exception as exc:
            outcome = exc
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_callers_cannot_overspend_a_shop_budget(llm_config, fake_llm, world):
    # every call costs exactly what is reserved: (18 + 20) tokens × 1 CNY / 1K = 0.038 CNY
    llm_config("gpt-a", per_1k_in="1", per_1k_out="1", max_tokens=20)
    fake_llm.behave("gpt-a", "slow", delay=0.05, prompt_tokens=18, completion_tokens=20)
    limit = Decimal("0.038") * 7 + Decimal("0.01")
    budget_set(actor=world.superadmin, shop=world.shop, monthly_limit=limit)

    results = _run_concurrently(20, lambda: router.chat(MESSAGES, user=world.superadmin, shop=world.shop))

    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    answered = [r for r in results if not isinstance(r, Exception)]
    assert len(answered) == 7 and len(refused) == 13, results
    assert {r.code for r in refused} == {"shop_budget_exceeded"}
    spent = sum(UsageRecord.objects.filter(shop=world.shop).values_list("cost", flat=True))
    assert spent == Decimal("0.266") <= limit
    counter = SpendCounter.objects.get(scope="shop_month", scope_id=world.shop.pk)
    assert counter.spent == spent and counter.reserved == 0


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_callers_cannot_exceed_a_daily_request_quota(llm_config, fake_llm, world):
    llm_config("gpt-a")
    fake_llm.behave("gpt-a", "slow", delay=0.05)
    user = UserFactory(username="busy", daily_request_quota=5)

    results = _run_concurrently(20, lambda: router.chat(MESSAGES, user=user))

    answered = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    assert len(answered) == 5 and len(refused) == 15
    assert {r.code for r in refused} == {"daily_quota_exceeded"}
    assert UsageRecord.objects.filter(user=user).count() == 5
    assert usage_counters(user=user)["user_requests_today"] == 5


@pytest.mark.django_db
def test_a_quota_of_zero_refuses_and_a_failed_call_gives_its_request_back(llm_config, fake_llm, world):
    llm_config("gpt-a")
    nobody = UserFactory(username="none", daily_request_quota=0)
    with pytest.raises(BudgetExceeded) as caught:
        router.chat(MESSAGES, user=nobody)
    assert caught.value.code == "daily_quota_exceeded" and caught.value.status_code == 429

    fake_llm.behave("gpt-a", "500")
    with pytest.raises(AllProvidersFailed):
        router.chat(MESSAGES, user=world.agent)
    assert usage_counters(user=world.agent)["user_requests_today"] == 0


@pytest.mark.django_db
def test_a_config_over_its_budget_is_skipped_for_the_next(llm_config, fake_llm, world):
    expensive = llm_config("gpt-a", per_1k_in="1", per_1k_out="1", max_tokens=20, is_default=True)
    llm_config("gpt-b", priority=10)
    budget_set(actor=world.superadmin, config=expensive, monthly_limit=Decimal("0.01"))

    result = router.chat(MESSAGES, user=world.agent)

    assert result.config.model_code == "gpt-b"
    assert result.attempts[0] == {"config": expensive.pk, "name": "gpt-a", "skipped": "config_budget_exceeded"}
    assert "gpt-a" not in fake_llm.calls

    result.config.is_active = False
    result.config.save()
    with pytest.raises(BudgetExceeded) as caught:
        router.chat(MESSAGES, user=world.agent)
    assert caught.value.code == "config_budget_exceeded"


@pytest.mark.django_db
def test_a_budget_set_mid_month_counts_what_was_already_spent(llm_config, fake_llm, world):
    llm_config("gpt-a", per_1k_in="1", per_1k_out="1", max_tokens=20)
    fake_llm.behave("gpt-a", "ok", prompt_tokens=18, completion_tokens=20)
    router.chat(MESSAGES, user=world.agent, shop=world.shop)  # 0.038 spent before any budget

    budget_set(actor=world.superadmin, shop=world.shop, monthly_limit=Decimal("0.07"))
    with pytest.raises(BudgetExceeded):
        router.chat(MESSAGES, user=world.agent, shop=world.shop)  # 0.038 + 0.038 > 0.07
    assert usage_counters(shop=world.shop)["shop_spent_month"] == Decimal("0.038")


@pytest.mark.django_db
@pytest.mark.parametrize("max_tokens", [None, 0])
def test_a_config_without_max_tokens_sends_the_cap_it_reserved(llm_config, fake_llm, world, settings, max_tokens):
    settings.KEFU_BILLING_DEFAULT_MAX_TOKENS = 500
    llm_config("gpt-a", per_1k_in="0", per_1k_out="1", max_tokens=max_tokens)
    fake_llm.behave("gpt-a", "ok", prompt_tokens=10, completion_tokens=8000)  # would talk on without a cap
    budget_set(actor=world.superadmin, shop=world.shop, monthly_limit=Decimal("0.6"))

    result = router.chat(MESSAGES, user=world.agent, shop=world.shop)

    assert fake_llm.requests[0]["body"]["max_tokens"] == 500
    assert result.usage.output_tokens == 500 and result.usage.cost == Decimal("0.5")
    assert usage_counters(shop=world.shop)["shop_spent_month"] <= Decimal("0.6")
