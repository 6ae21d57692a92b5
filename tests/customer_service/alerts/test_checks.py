"""Budgets crossing 80 % and 100 % (read from billing's ledger) and every provider failing raise alerts once."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from billing import budgets
from billing.choices import BudgetScope
from customer_service.alerts.checks import alert_budgets_check, alert_providers_outcome
from customer_service.models import AlertEvent, AlertKind
from tests.billing.factories import BudgetFactory, ModelConfigFactory
from tests.customer_service.factories import ShopFactory

from .factories import AlertChannelFactory

pytestmark = pytest.mark.django_db


def spend(shop, amount):
    reservation = budgets.reserve(shop=shop, amount=Decimal(amount))
    budgets.settle(reservation, actual=Decimal(amount))


def open_kinds():
    return sorted(AlertEvent.objects.filter(resolved_at__isnull=True).values_list("kind", flat=True))


def test_a_shop_budget_warns_at_80_percent_then_is_exhausted_then_resolves(settings,
                                                                          django_capture_on_commit_callbacks):
    settings.KEFU_ALERT_RESOLVE_HOLD_SECONDS = 0
    shop = ShopFactory(name="甜品旗舰店")
    budget = BudgetFactory(scope=BudgetScope.SHOP, shop=shop, monthly_limit=Decimal("100.00"))
    AlertChannelFactory(shop=shop)
    with django_capture_on_commit_callbacks(execute=True):
        spend(shop, "79.99")
        assert alert_budgets_check() == {"warning": 0, "exhausted": 0}
        spend(shop, "0.01")
        assert alert_budgets_check() == {"warning": 1, "exhausted": 0}
        alert_budgets_check()  # the same crossing again: counted, not sent again
        spend(shop, "20.00")
        assert alert_budgets_check() == {"warning": 1, "exhausted": 1}
    assert open_kinds() == [AlertKind.BUDGET_EXHAUSTED, AlertKind.BUDGET_WARNING]
    warning = AlertEvent.objects.get(kind=AlertKind.BUDGET_WARNING)
    assert warning.shop == shop and warning.count == 3 and "100.00" in warning.message
    assert len(mail.outbox) == 2
    with django_capture_on_commit_callbacks(execute=True):
        budget.monthly_limit = Decimal("1000.00")
        budget.save()
        alert_budgets_check()
    assert open_kinds() == []
    assert len(mail.outbox) == 4 and all("resolved" in m.subject for m in mail.outbox[2:])


def test_a_new_month_resolves_last_months_budget_alerts():
    shop = ShopFactory()
    BudgetFactory(scope=BudgetScope.SHOP, shop=shop, monthly_limit=Decimal("10.00"))
    spend(shop, "10.00")
    alert_budgets_check()
    assert open_kinds() == [AlertKind.BUDGET_EXHAUSTED, AlertKind.BUDGET_WARNING]
    alert_budgets_check(now=timezone.now() + timedelta(days=32))
    assert open_kinds() == []


def test_a_config_budget_raises_a_global_alert_and_a_switched_off_budget_resolves():
    config = ModelConfigFactory(name="deepseek-主力")
    budget = BudgetFactory(scope=BudgetScope.CONFIG, shop=None, config=config, monthly_limit=Decimal("50.00"))
    reservation = budgets.reserve_config(config=config, amount=Decimal("45.00"))
    budgets.settle(reservation, actual=Decimal("45.00"))
    alert_budgets_check()
    event = AlertEvent.objects.get()
    assert event.kind == AlertKind.BUDGET_WARNING and event.shop is None and "deepseek-主力" in event.title
    budget.is_active = False
    budget.save()
    alert_budgets_check()
    assert open_kinds() == []


def test_every_provider_failing_is_one_alert_until_a_success(settings, django_capture_on_commit_callbacks):
    settings.KEFU_ALERT_RESOLVE_HOLD_SECONDS = 0
    shop = ShopFactory()
    AlertChannelFactory(shop=shop)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(10):
            alert_providers_outcome(shop=shop, all_failed=True, error="deepseek: timeout; qwen: HTTP 500")
        alert_providers_outcome(shop=shop, all_failed=False)
        alert_providers_outcome(shop=shop, all_failed=False)
    event = AlertEvent.objects.get()
    assert event.kind == AlertKind.PROVIDERS_DOWN and event.count == 10 and not event.is_open
    assert [m.subject.split("]")[0] for m in mail.outbox] == ["[kefu alert", "[kefu resolved"]


def test_budget_alerts_read_in_chinese_on_a_chinese_site(settings):
    settings.LANGUAGE_CODE = "zh-hans"
    shop = ShopFactory()
    BudgetFactory(scope=BudgetScope.SHOP, shop=shop, monthly_limit=Decimal("1000.00"))
    spend(shop, "850.00")
    alert_budgets_check()
    event = AlertEvent.objects.get()
    month = timezone.localtime().strftime("%Y-%m")
    assert event.title == f"本店的 AI 预算在 {month} 已用 85%"
    assert event.message == "已用 850.00 / 1,000.00 元。"


def test_the_beat_runs_the_dispatch_and_the_budget_check():
    from kefu.celery import app

    assert app.conf.beat_schedule["alerts-dispatch-due"]["task"] == "alerts.dispatch_due"
    assert app.conf.beat_schedule["alerts-check-budgets"]["task"] == "alerts.check_budgets"
