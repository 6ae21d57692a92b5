"""Conditions the alerts watch from the top layer, where the lower apps cannot raise them themselves.

``alert_budgets_check`` (a beat task): billing keeps each budget's monthly spend in its ledger
(``billing.SpendCounter``) but may not import the alerts; this reads the ledger and raises
``budget_warning`` at 80 % and ``budget_exhausted`` at 100 % of a budget's monthly limit, and resolves
them when the spend falls back below (a raised limit, a new month, a budget switched off or deleted).

``alert_providers_outcome``: the pipeline calls it with the router's outcome of a draft: every provider
failing opens ``providers_down`` for the shop, the next success resolves it.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from billing.choices import CounterScope
from billing.models import Budget, SpendCounter
from customer_service.models import AlertEvent, AlertKind

from .services import alert_raise, alert_resolve

WARNING_SHARE = Decimal("0.8")
BUDGET_KINDS = (AlertKind.BUDGET_WARNING, AlertKind.BUDGET_EXHAUSTED)


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):,}"


def alert_budgets_check(*, now=None) -> dict:
    """Raise or resolve the budget alerts of every budget for this month. Returns the open ones as
    ``{"warning": n, "exhausted": n}``.

    1. Read every active budget with a positive limit and this month's spend in its counter.
    2. At or past 80 %: ``budget_warning`` (kept open past 100 %); at or past 100 %: ``budget_exhausted``.
       A shop's budget raises in its shop, a config's globally; the key names the budget and the month.
    3. Every budget alert open that step 2 did not raise is resolved.
    """
    month = timezone.localtime(now or timezone.now()).strftime("%Y-%m")
    budgets = list(Budget.objects.filter(is_active=True, monthly_limit__gt=0).select_related("shop", "config"))
    counters = {
        (scope, scope_id): spent
        for scope, scope_id, spent in SpendCounter.objects.filter(period=month).values_list(
            "scope", "scope_id", "spent")
    }
    wanted: set[tuple[int | None, str, str]] = set()
    with translation.override(settings.LANGUAGE_CODE):
        for budget in budgets:
            if budget.shop_id:
                shop_id, key = budget.shop_id, f"shop:{budget.shop_id}:{month}"
                spent = counters.get((CounterScope.SHOP_MONTH, budget.shop_id), Decimal(0))
                whose = _("The shop's AI budget")
            else:
                shop_id, key = None, f"config:{budget.config_id}:{month}"
                spent = counters.get((CounterScope.CONFIG_MONTH, budget.config_id), Decimal(0))
                whose = _("The AI budget of config %(name)s") % {"name": budget.config.name}
            share = spent / budget.monthly_limit
            detail = {"budget": budget.pk, "month": month, "spent": str(spent), "limit": str(budget.monthly_limit)}
            figures = {"whose": whose, "percent": int(share * 100), "spent": _money(spent),
                       "limit": _money(budget.monthly_limit), "month": month}
            if share >= WARNING_SHARE:
                wanted.add((shop_id, AlertKind.BUDGET_WARNING, key))
                alert_raise(kind=AlertKind.BUDGET_WARNING, shop=shop_id, key=key, detail=detail,
                            title=_("%(whose)s is %(percent)s%% spent for %(month)s") % figures,
                            message=_("Spent %(spent)s of %(limit)s CNY.") % figures)
            if share >= 1:
                wanted.add((shop_id, AlertKind.BUDGET_EXHAUSTED, key))
                alert_raise(kind=AlertKind.BUDGET_EXHAUSTED, shop=shop_id, key=key, detail=detail,
                            title=_("%(whose)s is exhausted for %(month)s") % figures,
                            message=_("Spent %(spent)s of %(limit)s CNY: AI drafts are refused until the limit "
                                      "is raised or the month ends.") % figures)
    open_events = AlertEvent.objects.filter(kind__in=BUDGET_KINDS, resolved_at__isnull=True).values_list(
        "shop_id", "kind", "key")
    for shop_id, kind, key in list(open_events):
        if (shop_id, kind, key) not in wanted:
            alert_resolve(kind=kind, shop=shop_id, key=key)
    kinds = [kind for _shop, kind, _key in wanted]
    return {"warning": kinds.count(AlertKind.BUDGET_WARNING), "exhausted": kinds.count(AlertKind.BUDGET_EXHAUSTED)}


def alert_providers_outcome(*, shop, all_failed: bool, capability: str = "chat", error: str = "",
                            detail: dict | None = None) -> None:
    """Record the router's outcome of one call for ``shop``: ``all_failed`` opens (or counts on) the shop's
    ``providers_down`` alert for ``capability``; a success resolves it. Never raises into the caller's flow;
    safe inside a transaction (alerts go out on commit).

    The pipeline calls it after each draft: ``all_failed`` when the draft's error rule is ``llm.failed``
    (every provider tried failed), a success when a draft was made.
    """
    if all_failed:
        with translation.override(settings.LANGUAGE_CODE):
            title = _("Every AI provider failed (%(capability)s)") % {"capability": capability}
        alert_raise(kind=AlertKind.PROVIDERS_DOWN, shop=shop, key=capability, title=title, message=error,
                    detail=detail)
    else:
        alert_resolve(kind=AlertKind.PROVIDERS_DOWN, shop=shop, key=capability)
