"""The quota and budget ledger: reserve before a call, settle with the real cost after it.

A user's ``daily_request_quota`` (router calls per local day), a shop's monthly budget
and an optional per-config monthly budget, all in CNY. Each is a SpendCounter row; a
reservation is one conditional UPDATE per row ("add the estimate to ``reserved`` where
``spent + reserved + estimate <= limit``"), so the check and the add happen under the
row's lock (PostgreSQL re-checks the condition after a concurrent writer commits) or
inside the IMMEDIATE write transaction (SQLite) — the same guarantee as
``select_for_update`` + check + update, with one statement instead of three. Settling moves the real cost from
``reserved`` to ``spent``. So concurrent calls can only overspend by what the calls in
flight cost beyond their estimates; the estimate reserves a config's max output tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Sum
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


_UNSET = object()
_counter_ids: dict[tuple[str, int, str], int] = {}  # rows are never deleted while their period runs


def _month_spent(**records) -> dict:
    """``{"spent": …}``: what this month's usage records of a shop (``shop=``) or config (``config=``) cost."""
    total = UsageRecord.objects.filter(created_at__gte=_month_start(), **records).aggregate(s=Sum("cost"))["s"]
    return {"spent": total or ZERO}


def _counter_id(scope: str, scope_id: int, period: str, initial) -> int:
    """The counter row's id, created on first use with what the usage records already say."""
    key = (scope, scope_id, period)
    pk = _counter_ids.get(key)
    if pk is None:
        found = list(SpendCounter.objects.filter(scope=scope, scope_id=scope_id, period=period).values_list(
            "pk", flat=True))
        if found:
            pk = found[0]
        else:
            counter, _created = SpendCounter.objects.get_or_create(
                scope=scope, scope_id=scope_id, period=period, defaults=initial() if callable(initial) else initial
            )
            pk = counter.pk
        _counter_ids[key] = pk
    return pk


# The counter UPDATEs run on every AI call. They are written in SQL (portable: SQLite and
# PostgreSQL) because the ORM spent ~0.4 ms building each one against ~0.04 ms for the
# database to run it (profiled with bench/router_overhead.py). Amounts travel as text and
# are CAST to NUMERIC so SQLite compares numbers, not strings.

def _execute(statement: str, params: list) -> int:
    table = connection.ops.quote_name(SpendCounter._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(statement.replace("{table}", table), params)
        return cursor.rowcount


def _now():
    return connection.ops.adapt_datetimefield_value(timezone.now())


def _take_request(pk: int, key: tuple, quota: int) -> bool:
    """Add one request to the counter row if that stays within ``quota``; True when it did."""
    return _execute(
        "UPDATE {table} SET requests = requests + 1, updated_at = %s "
        "WHERE id = %s AND scope = %s AND scope_id = %s AND period = %s AND requests < %s",
        [_now(), pk, *key, quota],
    ) == 1


def _take_money(pk: int, key: tuple, amount: Decimal, limit: Decimal) -> bool:
    """Add ``amount`` to the row's ``reserved`` if spent + reserved + amount stays within ``limit``."""
    return _execute(
        "UPDATE {table} SET reserved = reserved + CAST(%s AS NUMERIC), updated_at = %s "
        "WHERE id = %s AND scope = %s AND scope_id = %s AND period = %s "
        "AND spent + reserved + CAST(%s AS NUMERIC) <= CAST(%s AS NUMERIC)",
        [str(amount), _now(), pk, *key, str(amount), str(limit)],
    ) == 1


def _refused(pk: int, key: tuple) -> SpendCounter:
    """The row after a refused take; raise _CounterGone if the cached id no longer names it."""
    scope, scope_id, period = key
    row = SpendCounter.objects.filter(pk=pk, scope=scope, scope_id=scope_id, period=period).first()
    if row is None:
        _counter_ids.clear()  # deleted by hand (or a test rolled it back): look the ids up again
        raise _CounterGone
    return row


class _CounterGone(Exception):
    pass


def _shop_budget(shop) -> Budget | None:
    if shop is None:
        return None
    return Budget.objects.filter(shop=shop, is_active=True).first()


def reserve(*, user=None, shop=None, amount: Decimal, budget=_UNSET) -> Reservation:
    """Count one request on the user's daily quota and reserve ``amount`` on the shop's monthly budget.

    ``budget`` is the shop's active Budget when the caller knows it (the router's snapshot), else looked up.
    Raises BudgetExceeded (code ``daily_quota_exceeded`` or ``shop_budget_exceeded``); nothing is held then.
    """
    try:
        return _reserve(user=user, shop=shop, amount=amount, budget=budget)
    except _CounterGone:
        return _reserve(user=user, shop=shop, amount=amount, budget=budget)


def _reserve(*, user, shop, amount, budget) -> Reservation:
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
    if budget is _UNSET:
        budget = _shop_budget(shop)
    if budget is not None and shop is not None:
        shop_counter = _counter_id(CounterScope.SHOP_MONTH, shop.pk, month, lambda: _month_spent(shop=shop))
    if user_counter is None and shop_counter is None:
        return reservation
    # Each take is one conditional UPDATE: the row lock it holds (PostgreSQL, re-checking the
    # condition after any concurrent writer commits) or SQLite's single writer makes check-and-add
    # one step, so concurrent calls cannot pass the same limit together. Two takes share a
    # transaction so a refusal by the second undoes the first.
    def take_user():
        ukey = (CounterScope.USER_DAY, user.pk, day)
        if not _take_request(user_counter, ukey, quota):
            row = _refused(user_counter, ukey)
            raise BudgetExceeded(
                _("Daily AI request quota of %(quota)d reached.") % {"quota": quota},
                code="daily_quota_exceeded", detail={"quota": quota, "used": row.requests},
            )
        reservation.request_counter_id = user_counter

    def take_shop():
        skey = (CounterScope.SHOP_MONTH, shop.pk, month)
        if not _take_money(shop_counter, skey, amount, budget.monthly_limit):
            row = _refused(shop_counter, skey)
            raise BudgetExceeded(
                _("The shop's monthly AI budget of %(limit)s CNY is used up.") % {"limit": budget.monthly_limit},
                code="shop_budget_exceeded",
                detail={"limit": str(budget.monthly_limit), "spent": str(row.spent), "reserved": str(row.reserved)},
            )
        reservation.counter_ids.append(shop_counter)

    try:
        _in_one_transaction([step for step, pk in ((take_user, user_counter), (take_shop, shop_counter))
                             if pk is not None])
    except BudgetExceeded:
        reservation.request_counter_id = None  # rolled back with the transaction
        reservation.counter_ids.clear()
        raise
    return reservation


def reserve_config(*, config, amount: Decimal, budget=_UNSET) -> Reservation | None:
    """Reserve ``amount`` on ``config``'s monthly budget, if it has one; None when the budget is used up."""
    if budget is _UNSET:
        budget = Budget.objects.filter(config=config, is_active=True).first()
    if budget is None or not budget.is_active:
        return Reservation(amount=amount)
    _day, month, _start = _periods()
    key = (CounterScope.CONFIG_MONTH, config.pk, month)
    for _attempt in range(2):
        counter = _counter_id(*key, lambda: _month_spent(config=config))
        if _take_money(counter, key, amount, budget.monthly_limit):
            return Reservation(counter_ids=[counter], amount=amount)
        try:
            _refused(counter, key)
            return None
        except _CounterGone:
            continue
    raise RuntimeError("the config's spend counter keeps disappearing")


def settle(reservation: Reservation | None, *, actual: Decimal, succeeded: bool = True) -> None:
    """Release the reservation and book ``actual``; a call that produced nothing gives its request back."""
    if reservation is None or reservation.settled or reservation.empty:
        return
    steps = []
    if reservation.counter_ids:
        for counter_id in reservation.counter_ids:
            steps.append(lambda counter_id=counter_id: _execute(
                "UPDATE {table} SET reserved = reserved - CAST(%s AS NUMERIC), spent = spent + CAST(%s AS NUMERIC), "
                "updated_at = %s WHERE id = %s",
                [str(reservation.amount), str(actual), _now(), counter_id]))
    if reservation.request_counter_id is not None and not succeeded:
        steps.append(lambda: _execute(
            "UPDATE {table} SET requests = requests - 1, updated_at = %s WHERE id = %s AND requests > 0",
            [_now(), reservation.request_counter_id]))
    _in_one_transaction(steps)
    reservation.settled = True


def _in_one_transaction(steps) -> None:
    """Run the UPDATEs; one statement is atomic on its own (no BEGIN/COMMIT round trips), more share one."""
    if len(steps) == 1:
        steps[0]()
    elif steps:
        with transaction.atomic():
            for step in steps:
                step()


def counter_rebuild(*, budget: Budget) -> SpendCounter:
    """Set this month's spend counter of ``budget``'s shop or config to what this month's usage records cost.

    Run when a budget starts counting (created, or switched back on): calls move a counter only
    while a budget is active, so a row left from earlier in the month misses what was spent while
    the budget was off. ``reserved`` (calls in flight) is kept. A call in flight at this very
    moment may be counted twice or missed, by at most its own cost.
    """
    _day, month, _start = _periods()
    if budget.shop_id:
        scope, scope_id, records = CounterScope.SHOP_MONTH, budget.shop_id, {"shop_id": budget.shop_id}
    else:
        scope, scope_id, records = CounterScope.CONFIG_MONTH, budget.config_id, {"config_id": budget.config_id}
    spent = _month_spent(**records)
    # Straight to the row, not through the process's id cache: this runs rarely and must not trust it.
    counter, created = SpendCounter.objects.get_or_create(scope=scope, scope_id=scope_id, period=month,
                                                          defaults=spent)
    if not created:
        SpendCounter.objects.filter(pk=counter.pk).update(**spent, updated_at=timezone.now())
        counter.refresh_from_db()
    return counter


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


__all__ = ["Reservation", "counter_rebuild", "reserve", "reserve_config", "settle", "usage_counters"]
