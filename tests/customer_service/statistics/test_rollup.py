"""The roll-up equals the figures counted directly from the pipeline's rows, day by day and shop by shop."""

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from billing.models import UsageRecord
from customer_service.models import (
    DailyStatistics,
    Message,
    MessageDirection,
    MessageStatus,
    OutgoingReply,
    OutgoingState,
    ReplySource,
    ReviewItem,
    ReviewStatus,
)
from customer_service.statistics import services
from customer_service.statistics.rounds import ANSWER, BUYER, conversation_rounds, median_seconds, p95_seconds
from tests.customer_service.factories import ConversationFactory, MessageFactory, OutgoingReplyFactory, ReplyFactory

from .traffic import SHANGHAI, generate, local, shop_since, usage

FIRST = date(2026, 3, 1)
DAYS = 3


def on(moment, day) -> bool:
    return moment.astimezone(SHANGHAI).date() == day


def direct_figures(shop, day) -> dict:
    """Every figure counted the plain way: one row at a time, each moment converted to Shanghai time."""
    lines = [m for m in Message.objects.filter(shop=shop, direction=MessageDirection.BUYER) if on(m.received_at, day)]

    def head(m):
        return m.burst_head or m

    items = [i for i in ReviewItem.objects.filter(shop=shop) if on(i.message.received_at, day)]
    decided = [i for i in items if i.status in (ReviewStatus.APPROVED, ReviewStatus.EDITED, ReviewStatus.REJECTED)]
    # Rounds from the whole history of every conversation (no look-back window, no chunks).
    rounds = []
    for conversation in {m.conversation for m in Message.objects.filter(shop=shop)}:
        events = [(m.received_at, BUYER if m.direction == MessageDirection.BUYER else ANSWER)
                  for m in conversation.messages.all()]
        events += [(o.finished_at, ANSWER) for o in conversation.outgoing_replies.filter(state=OutgoingState.CONFIRMED)]
        rounds += [r for r in conversation_rounds(events) if on(r.start, day)]
    answered = [r.response.total_seconds() for r in rounds if r.answered_at is not None]
    return {
        "messages": len(lines),
        "conversations": len({m.conversation_id for m in lines}),
        "auto_answered": sum(m.status == MessageStatus.ANSWERED and not head(m).review_items.exists() for m in lines),
        "kb_hits": sum(head(m).replies.filter(source=ReplySource.KB).exists() for m in lines),
        "ignored": sum(m.status == MessageStatus.IGNORED for m in lines),
        "reviewed": len(decided),
        "approved": sum(i.status == ReviewStatus.APPROVED for i in decided),
        "edited": sum(i.status == ReviewStatus.EDITED for i in decided),
        "rejected": sum(i.status == ReviewStatus.REJECTED for i in decided),
        "unknown_sends": sum(on(o.created_at, day) for o in OutgoingReply.objects.filter(
            shop=shop, state=OutgoingState.UNKNOWN)),
        "rounds": len(rounds),
        "rounds_answered": len(answered),
        "rounds_rated": sum(r.rated for r in rounds),
        "rounds_rated_in_3_minutes": sum(r.rated and r.in_3_minutes for r in rounds),
        "first_reply_median_seconds": median_seconds(answered),
        "first_reply_p95_seconds": p95_seconds(answered),
        "ai_cost": sum((u.cost for u in UsageRecord.objects.filter(shop=shop) if on(u.created_at, day)), Decimal(0)),
    }


def stored(shop, day) -> dict:
    row = DailyStatistics.objects.get(shop=shop, day=day)
    return {name: getattr(row, name) for name in services.FIGURES}


@pytest.mark.django_db
def test_the_roll_up_equals_the_direct_counts_across_days_and_shops():
    shops = [shop_since(FIRST), shop_since(FIRST)]
    generate(shops=shops, first_day=FIRST, days=DAYS, seed=12)

    written = services.daily_statistics_rollup(date_from=FIRST, date_to=FIRST + timedelta(days=DAYS - 1))

    assert written == len(shops) * DAYS
    for shop in shops:
        for n in range(DAYS):
            day = FIRST + timedelta(days=n)
            expected = direct_figures(shop, day)
            assert expected["messages"] > 10 and expected["reviewed"] > 0 and expected["rounds"] > 0
            assert stored(shop, day) == expected, (shop, day)
    # Nothing outside the range was written.
    assert not DailyStatistics.objects.exclude(day__range=(FIRST, FIRST + timedelta(days=DAYS - 1))).exists()


@pytest.mark.django_db
def test_rolling_up_again_or_day_by_day_gives_the_same_rows():
    shop = shop_since(FIRST)
    generate(shops=[shop], first_day=FIRST, days=DAYS, seed=7)
    last = FIRST + timedelta(days=DAYS - 1)
    services.daily_statistics_rollup(date_from=FIRST, date_to=last)
    once = {day: stored(shop, day) for day in (FIRST + timedelta(days=n) for n in range(DAYS))}

    services.daily_statistics_rollup(date_from=FIRST, date_to=last)
    for n in range(DAYS):
        services.daily_statistics_rollup(date_from=FIRST + timedelta(days=n), date_to=FIRST + timedelta(days=n))

    assert DailyStatistics.objects.count() == DAYS
    assert {day: stored(shop, day) for day in once} == once


@pytest.mark.django_db
def test_a_line_at_23_59_shanghai_lands_on_its_own_day_and_not_the_next():
    shop = shop_since(FIRST)
    conversation = ConversationFactory(shop=shop)
    late = MessageFactory(shop=shop, conversation=conversation, received_at=local(FIRST, 23, 59, 59),
                          status=MessageStatus.ANSWERED)
    # 15:59:59 UTC: a UTC day boundary would put it on the same day, a naive date on the wrong one
    assert late.received_at.astimezone(SHANGHAI).date() == FIRST
    # answered 90 s later, on the next local day: the round is the first day's, answered in time
    reply = ReplyFactory(message=late, source=ReplySource.KB)
    OutgoingReplyFactory(reply=reply, state=OutgoingState.CONFIRMED,
                         finished_at=local(FIRST + timedelta(days=1), 0, 1, 29))
    usage(shop=shop, at=local(FIRST, 23, 59, 59), cost="0.5")
    usage(shop=shop, at=local(FIRST + timedelta(days=1), 0, 0, 0), cost="0.25")

    services.daily_statistics_rollup(date_from=FIRST, date_to=FIRST + timedelta(days=1))

    first = DailyStatistics.objects.get(shop=shop, day=FIRST)
    second = DailyStatistics.objects.get(shop=shop, day=FIRST + timedelta(days=1))
    assert (first.messages, first.auto_answered, first.kb_hits, first.ai_cost) == (1, 1, 1, Decimal("0.5"))
    assert (first.rounds, first.rounds_rated, first.rounds_rated_in_3_minutes) == (1, 1, 1)
    assert first.first_reply_median_seconds == 90.0
    assert (second.messages, second.rounds, second.ai_cost) == (0, 0, Decimal("0.25"))


@pytest.mark.django_db
def test_rounds_before_eight_are_not_rated_and_a_late_answer_misses_the_three_minutes():
    shop = shop_since(FIRST)
    night, morning = ConversationFactory(shop=shop), ConversationFactory(shop=shop)
    MessageFactory(shop=shop, conversation=night, received_at=local(FIRST, 7, 59, 59))
    MessageFactory(shop=shop, conversation=night, direction=MessageDirection.SELLER, received_at=local(FIRST, 8, 30))
    MessageFactory(shop=shop, conversation=morning, received_at=local(FIRST, 8, 0, 0))
    MessageFactory(shop=shop, conversation=morning, received_at=local(FIRST, 8, 2, 0))  # same round
    MessageFactory(shop=shop, conversation=morning, direction=MessageDirection.SELLER,
                   received_at=local(FIRST, 8, 3, 1))  # 181 s after the round began

    services.daily_statistics_rollup(date_from=FIRST, date_to=FIRST)

    row = DailyStatistics.objects.get(shop=shop, day=FIRST)
    assert (row.messages, row.rounds, row.rounds_answered) == (3, 2, 2)
    assert (row.rounds_rated, row.rounds_rated_in_3_minutes, row.response_rate_3_minutes) == (1, 0, 0.0)
    assert row.first_reply_median_seconds == (181 + 1801) / 2
    assert row.first_reply_p95_seconds == 1801


@pytest.mark.django_db
def test_days_before_a_shop_existed_get_no_row_and_a_reversed_range_is_refused():
    shop = shop_since(FIRST)
    services.daily_statistics_rollup(date_from=FIRST - timedelta(days=40), date_to=FIRST)
    assert DailyStatistics.objects.filter(shop=shop).count() == 31
    with pytest.raises(services.StatisticsError):
        services.daily_statistics_rollup(date_from=FIRST, date_to=FIRST - timedelta(days=1))


@pytest.mark.django_db
def test_the_command_rolls_up_a_range_and_explains_bad_input():
    shops = [shop_since(FIRST), shop_since(FIRST)]
    generate(shops=shops, first_day=FIRST, days=2, seed=3, per_day=3)
    out = StringIO()
    call_command("stats_rollup", "--from", "2026-03-01", "--to", "2026-03-02", "--shop", shops[0].name, stdout=out)
    assert "2 shop-day rows" in out.getvalue()
    assert set(DailyStatistics.objects.values_list("shop_id", flat=True)) == {shops[0].pk}
    assert stored(shops[0], FIRST) == direct_figures(shops[0], FIRST)
    with pytest.raises(CommandError, match="not a date"):
        call_command("stats_rollup", "--from", "yesterday")
    with pytest.raises(CommandError, match="first day"):
        call_command("stats_rollup", "--from", "2026-03-02", "--to", "2026-03-01")
    with pytest.raises(CommandError, match="No shop"):
        call_command("stats_rollup", "--shop", "99999999999999999999999")


@pytest.mark.django_db
def test_the_beat_task_rolls_up_yesterday_and_today(settings):
    from customer_service.statistics.tasks import statistics_rollup_recent_task

    shop = shop_since(FIRST)
    MessageFactory(conversation=ConversationFactory(shop=shop))
    assert statistics_rollup_recent_task.delay().get() == 2
    days = defaultdict(int, DailyStatistics.objects.filter(shop=shop).values_list("day", "messages"))
    assert sum(days.values()) == 1 and len(days) == 2
