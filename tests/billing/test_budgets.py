import threading
from decimal import Decimal

import pytest
from django.db import connection

from billing import router
from billing.budgets import usage_counters
from billing.exceptions import AllProvidersFailed, BudgetExceeded
from billing.models import Budget, SpendCounter, UsageRecord
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


def _spend(world, times):
    for _ in range(times):
        router.chat(MESSAGES, user=world.agent, shop=world.shop)  # 0.038 each


@pytest.fixture
def priced_calls(llm_config, fake_llm):
    config = llm_config("gpt-a", per_1k_in="1", per_1k_out="1", max_tokens=20)
    fake_llm.behave("gpt-a", "ok", prompt_tokens=18, completion_tokens=20)
    return config


@pytest.mark.django_db
def test_a_budget_switched_off_and_on_again_counts_what_was_spent_meanwhile(priced_calls, world):
    budget_set(actor=world.superadmin, shop=world.shop, monthly_limit=Decimal("0.1"))
    _spend(world, 1)
    budget_set(actor=world.superadmin, shop=world.shop, monthly_limit=Decimal("0.1"), is_active=False)
    _spend(world, 5)  # no budget: allowed, 0.19 more

    budget_set(actor=world.superadmin, shop=world.shop, monthly_limit=Decimal("0.1"), is_active=True)

    assert usage_counters(shop=world.shop)["shop_spent_month"] == Decimal("0.228")
    with pytest.raises(BudgetExceeded):
        router.chat(MESSAGES, user=world.agent, shop=world.shop)


@pytest.mark.django_db
def test_a_config_budget_switched_on_again_counts_the_month(priced_calls, world):
    budget_set(actor=world.superadmin, config=priced_calls, monthly_limit=Decimal("0.1"))
    _spend(world, 1)
    budget_set(actor=world.superadmin, config=priced_calls, monthly_limit=Decimal("0.1"), is_active=False)
    _spend(world, 2)
    budget_set(actor=world.superadmin, config=priced_calls, monthly_limit=Decimal("0.1"), is_active=True)

    counter = SpendCounter.objects.get(scope="config_month", scope_id=priced_calls.pk)
    assert counter.spent == Decimal("0.114")
    with pytest.raises(BudgetExceeded) as caught:
        router.chat(MESSAGES, user=world.agent, shop=world.shop)
    assert caught.value.code == "config_budget_exceeded"


@pytest.mark.django_db
def test_switching_a_budget_on_in_the_admin_counts_the_month(client, priced_calls, world):
    from django.urls import reverse

    budget = budget_set(actor=world.superadmin, shop=world.shop, monthly_limit=Decimal("0.1"))
    _spend(world, 1)
    client.force_login(world.superadmin)
    url = reverse("admin:billing_budget_change", args=[budget.pk])
    assert client.post(url, {"monthly_limit": "0.1"}).status_code == 302  # switched off
    _spend(world, 2)

    response = client.post(url, {"monthly_limit": "0.1", "is_active": "on", "shop": world.other_shop.pk})

    assert response.status_code == 302
    budget.refresh_from_db()
    assert budget.is_active and budget.shop == world.shop  # the target is read-only
    assert usage_counters(shop=world.shop)["shop_spent_month"] == Decimal("0.114")


@pytest.mark.django_db
def test_switching_a_budget_on_through_the_api_counts_the_month(client_for, priced_calls, world):
    budget = budget_set(actor=world.superadmin, shop=world.shop, monthly_limit=Decimal("0.1"), is_active=False)
    _spend(world, 2)
    api = client_for(world.superadmin)

    assert api.patch(f"/api/budgets/{budget.pk}", {"is_active": True}, format="json").status_code == 200

    assert usage_counters(shop=world.shop)["shop_spent_month"] == Decimal("0.076")


@pytest.mark.django_db
def test_the_api_refuses_to_move_a_budget_to_another_target(client_for, world, priced_calls):
    ours = budget_set(actor=world.superadmin, shop=world.shop, monthly_limit=Decimal("5"))
    theirs = budget_set(actor=world.superadmin, shop=world.other_shop, monthly_limit=Decimal("7"))
    api = client_for(world.superadmin)

    for body in ({"shop": world.other_shop.pk, "monthly_limit": "1"}, {"shop": None, "config": priced_calls.pk}):
        response = api.patch(f"/api/budgets/{ours.pk}", body, format="json")
        assert response.status_code == 400, response.json()
        assert response.json()["error"] in ("validation_error", "budget_target_fixed")
    theirs.delete()
    response = api.patch(f"/api/budgets/{ours.pk}", {"shop": world.other_shop.pk, "monthly_limit": "1"},
                         format="json")
    assert response.status_code == 400 and response.json()["error"] == "budget_target_fixed"

    ours.refresh_from_db()
    assert (ours.shop, ours.monthly_limit) == (world.shop, Decimal("5"))
    assert list(Budget.objects.all()) == [ours]
