"""The quota and budget ledger: reserve before a call, settle with the real cost after it.

A user's ``daily_request_quota`` (router calls per local day), a shop's monthly budget
and an optional per-config monthly budget, all in CNY. Each is a SpendCounter row; a
reservation locks the rows it touches (``select_for_update`` on PostgreSQL, the
IMMEDIATE write transaction on SQLite), checks ``spent + reserved + estimate`` against
the limit and adds the estimate to ``reserved``. Settling moves the real cost from
``reserved`` to ``spent``. So concurrent calls can only overspend by what the calls in
flight cost beyond their estimates; the estimate reserves a config's max output tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from .choices import CounterScope
from .exceptions import BudgetExceeded
from .models import Budget, SpendCounter, UsageRecord

ZERO = Decimal(0)


@dataclass
class Reservation:
    """What one call holds: counter ids, the amount reserved on each, and whether it took a request."""

    counter_ids: list[int] = field(default_factory=list)
    amount: Decimal = ZERO
    request_counter_id: int | None = None
    settled: bool = False

    @property
    def empty(self) -> bool:
        return not self.counter_ids and self.request_counter_id is None


def _periods(now=None) -> tuple[str, str, object]:
    local = timezone.localtime(now or timezone.now())
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return local.strftime("%Y-%m-%d"), local.strftime("%Y-%m"), day_start


def _month_start(now=None):
    local = timezone.localtime(now or timezone.now())
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _counter_id(scope: str, scope_id: int, period: str, initial: dict) -> int:
    """The counter row's id, created on first use with what the usage records already say."""
    found = SpendCounter.objects.filter(scope=scope, scope_id=scope_id, period=period).values_list("pk", flat=True)
    for pk in found:
        return pk
    counter, _created = SpendCounter.objects.get_or_create(
        scope=scope, scope_id=scope_id, period=period, defaults=initial() if callable(initial) else initial
    )
    return counter.pk


def _shop_budget(shop) -> Budget | None:
    if shop is None:
        return None
    return Budget.objects.filter(shop=shop, is_active=True).first()


def reserve(*, user=None, shop=None, amount: Decimal) -> Reservation:
    """Count one request on the user's daily quota and reserve ``amount`` on the shop's monthly budget.

    Raises BudgetExceeded (code ``daily_quota_exceeded`` or ``shop_budget_exceeded``); nothing is held then.
    """
    reservation = Reservation(amount=amount)
    day, month, day_start = _periods()
    user_counter = shop_counter = None
    quota = None
    if getattr(user, "is_authenticated", False):
        quota = user.daily_request_quota
        user_counter = _counter_id(
            CounterScope.USER_DAY, user.pk, day,
            lambda: {"requests": UsageRecord.objects.filter(user=user, attempt=1, created_at__gte=day_start).count()},
        )
    budget = _shop_budget(shop)
    if budget is not None:
        month_start = _month_start()

        def spent_so_far():
            total = UsageRecord.objects.filter(shop=shop, created_at__gte=month_start).aggregate(s=Sum("cost"))["s"]
            return {"spent": total or ZERO}

        shop_counter = _counter_id(CounterScope.SHOP_MONTH, shop.pk, month, spent_so_far)
    if user_counter is None and shop_counter is None:
        return reservation
    with transaction.atomic():
        ids = [pk for pk in (user_counter, shop_counter) if pk is not None]
        rows = {row.pk: row for row in SpendCounter.objects.select_for_update().filter(pk__in=ids).order_by("pk")}
        if user_counter is not None and rows[user_counter].requests + 1 > quota:
            raise BudgetExceeded(
                _("Daily AI request quota of %(quota)d reached.") % {"quota": quota},
                code="daily_quota_exceeded", detail={"quota": quota, "used": rows[user_counter].requests},
            )
        if shop_counter is not None:
            row = rows[shop_counter]
            if row.spent + row.reserved + amount > budget.monthly_limit:
                raise BudgetExceeded(
                    _("The shop's monthly AI budget of %(limit)s CNY is used up.") % {"limit": budget.monthly_limit},
                    code="shop_budget_exceeded",
                    detail={"limit": str(budget.monthly_limit), "spent": str(row.spent),
                            "reserved": str(row.reserved)},
                )
        if user_counter is not None:
            SpendCounter.objects.filter(pk=user_counter).update(requests=F("requests") + 1)
            reservation.request_counter_id = user_counter
        if shop_counter is not None:
            SpendCounter.objects.filter(pk=shop_counter).update(reserved=F("reserved") + amount)
            reservation.counter_ids.append(shop_counter)
    return reservation


def reserve_config(*, config, amount: Decimal) -> Reservation | None:
    """Reserve ``amount`` on ``config``'s monthly budget, if it has one; None when the budget is used up."""
    try:
        budget = config.budget
    except Budget.DoesNotExist:
        budget = None
    if budget is None or not budget.is_active:
        return Reservation(amount=amount)
    _day, month, _start = _periods()
    month_start = _month_start()

    def spent_so_far():
        total = UsageRecord.objects.filter(config=config, created_at__gte=month_start).aggregate(s=Sum("cost"))["s"]
        return {"spent": total or ZERO}

    counter = _counter_id(CounterScope.CONFIG_MONTH, config.pk, month, spent_so_far)
    with transaction.atomic():
        row = SpendCounter.objects.select_for_update().get(pk=counter)
        if row.spent + row.reserved + amount > budget.monthly_limit:
            return None
        SpendCounter.objects.filter(pk=counter).update(reserved=F("reserved") + amount)
    return Reservation(counter_ids=[counter], amount=amount)


def settle(reservation: Reservation | None, *, actual: Decimal, succeeded: bool = True) -> None:
    """Release the reservation and book ``actual``; a call that produced nothing gives its request back."""
    if reservation is None or reservation.settled or reservation.empty:
        return
    with transaction.atomic():
        if reservation.counter_ids:
            SpendCounter.objects.filter(pk__in=reservation.counter_ids).update(
                reserved=F("reserved") - reservation.amount, spent=F("spent") + actual
            )
        if reservation.request_counter_id is not None and not succeeded:
            SpendCounter.objects.filter(pk=reservation.request_counter_id, requests__gt=0).update(
                requests=F("requests") - 1
            )
    reservation.settled = True


def usage_counters(*, user=None, shop=None) -> dict:
    """Today's requests of ``user`` and this month's spend of ``shop`` as the ledger holds them."""
    day, month, _start = _periods()
    result = {}
    if user is not None:
        row = SpendCounter.objects.filter(scope=CounterScope.USER_DAY, scope_id=user.pk, period=day).first()
        result["user_requests_today"] = row.requests if row else 0
    if shop is not None:
        row = SpendCounter.objects.filter(scope=CounterScope.SHOP_MONTH, scope_id=shop.pk, period=month).first()
        result["shop_spent_month"] = row.spent if row else ZERO
        result["shop_reserved"] = row.reserved if row else ZERO
    return result


__all__ = ["Reservation", "reserve", "reserve_config", "settle", "usage_counters"]
