"""The daily statistics roll-up: recompute each shop's figures for a range of local days and store them.

Idempotent: a day rolled up twice holds the same row (every figure is recomputed from the pipeline's
rows, nothing is added to what was stored). The beat task rolls up yesterday and today every few
minutes, so late review outcomes and confirmations reach yesterday's row too; ``manage.py
stats_rollup --from --to`` recomputes any range.

What each figure counts (a "line" is a buyer's message; a line's *head* is the burst line whose
reply answered it — ``burst_head`` — or the line itself):

- ``messages``: lines received that day (``received_at``, Asia/Shanghai); ``conversations``: distinct
  conversations among them;
- ``auto_answered``: those lines now answered whose head never went to review;
- ``kb_hits``: lines whose head got a knowledge-base reply (sent, or held for review);
- ``ignored``: lines now ignored;
- ``reviewed`` / ``approved`` / ``edited`` / ``rejected``: review items decided by a person, on the day
  of the message reviewed (pending and expired items are not reviewed);
- ``unknown_sends``: outgoing replies queued that day that ended ``unknown``;
- ``rounds``…: see :mod:`customer_service.statistics.rounds` (answers are seller lines and confirmed
  outgoing replies), on the day the round started;
- ``ai_cost``: the shop's usage records of that day (billing's stored local day), in CNY.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import UsageRecord
from configs.services.shop_settings import shop_settings_update
from customer_service.models import (
    DailyStatistics,
    Message,
    MessageDirection,
    MessageStatus,
    OutgoingReply,
    OutgoingState,
    Reply,
    ReplySource,
    ReviewItem,
    ReviewStatus,
    Shop,
)
from kefu.exceptions import KefuError

from .calibration import Calibration, CalibrationError, shop_calibration_get
from .rounds import (
    ANSWER,
    ANSWER_HORIZON,
    BUYER,
    RATED_FROM,
    RESPONSE_LIMIT,
    ROUND_GAP,
    SHANGHAI,
    conversation_rounds,
    median_seconds,
    p95_seconds,
)

CHUNK_DAYS = 7  # days read at once per shop: bounds the memory one roll-up step holds
# On PostgreSQL the rows stay in the database: a longer step reads the look-back and horizon less often.
CHUNK_DAYS_SQL = 31
SQL_WORK_MEM = "64MB"
MAX_RANGE_DAYS = 3660
FIGURES = [
    "messages", "conversations", "auto_answered", "kb_hits", "ignored", "reviewed", "approved", "edited",
    "rejected", "unknown_sends", "rounds", "rounds_answered", "rounds_rated", "rounds_rated_in_3_minutes",
    "first_reply_median_seconds", "first_reply_p95_seconds", "ai_cost",
]
REVIEW_OUTCOMES = {ReviewStatus.APPROVED: "approved", ReviewStatus.EDITED: "edited", ReviewStatus.REJECTED: "rejected"}


class StatisticsError(KefuError):
    code = "statistics_invalid"


def day_start(day: date) -> datetime:
    """The aware moment local ``day`` begins (Asia/Shanghai, the project's TIME_ZONE)."""
    return timezone.make_aware(datetime.combine(day, time.min))


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


class _DayIndex:
    """Which local day of ``days`` an aware moment falls on (None outside), by bisecting the day starts."""

    def __init__(self, days: list[date]):
        self.days = days
        # In UTC, as the database's moments come: comparing aware times of one fixed zone is cheap, of
        # Asia/Shanghai's zoneinfo it asks for the offset each time.
        self.starts = [day_start(day).astimezone(UTC) for day in [*days, days[-1] + timedelta(days=1)]]

    def __call__(self, moment: datetime) -> date | None:
        index = bisect.bisect_right(self.starts, moment) - 1
        return self.days[index] if 0 <= index < len(self.days) else None


def _empty_figures(days: list[date]) -> dict[date, dict]:
    figures = {day: dict.fromkeys(FIGURES, 0) for day in days}
    for row in figures.values():
        row.update(first_reply_median_seconds=None, first_reply_p95_seconds=None, ai_cost=Decimal("0"))
    return figures


def shop_day_figures(*, shop, first: date, last: date) -> dict[date, dict]:
    """Every figure of ``shop`` for each local day ``first``..``last`` (reads only).

    On PostgreSQL the database counts and finds the rounds (:func:`_shop_day_figures_sql`); elsewhere
    (SQLite) the rows are read and counted here. Both follow the same rules and give the same figures.
    """
    if connection.vendor == "postgresql":
        return _shop_day_figures_sql(shop=shop, first=first, last=last)
    return _shop_day_figures_python(shop=shop, first=first, last=last)


def _shop_day_figures_python(*, shop, first: date, last: date) -> dict[date, dict]:
    days = _days(first, last)
    day_of = _DayIndex(days)
    start, end = day_of.starts[0], day_of.starts[-1]
    figures = _empty_figures(days)

    # Heads may be received a little after the day's end (a burst across midnight): read a margin.
    head_window = {"message__received_at__gte": start, "message__received_at__lt": end + ANSWER_HORIZON}
    reviewed_heads = set(ReviewItem.objects.filter(shop=shop, **head_window).values_list("message_id", flat=True))
    kb_heads = set(
        Reply.objects.filter(message__shop=shop, source=ReplySource.KB, **head_window)
        .values_list("message_id", flat=True)
    )

    # 1. Buyer lines, with the lookback the round rule needs; 2. answers, with the horizon.
    timelines: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    conversations: dict[date, set[int]] = defaultdict(set)
    lines = (
        Message.objects.filter(shop=shop, direction=MessageDirection.BUYER,
                               received_at__gte=start - ROUND_GAP, received_at__lt=end)
        .values_list("id", "conversation_id", "received_at", "status", "burst_head_id")
        .order_by()
    )
    for pk, conversation_id, received_at, status, burst_head_id in lines.iterator(chunk_size=5000):
        timelines[conversation_id].append((received_at, BUYER))
        day = day_of(received_at)
        if day is None:
            continue
        row = figures[day]
        head = burst_head_id or pk
        row["messages"] += 1
        conversations[day].add(conversation_id)
        if status == MessageStatus.ANSWERED and head not in reviewed_heads:
            row["auto_answered"] += 1
        elif status == MessageStatus.IGNORED:
            row["ignored"] += 1
        if head in kb_heads:
            row["kb_hits"] += 1
    for day, ids in conversations.items():
        figures[day]["conversations"] = len(ids)

    answer_window = (start - ROUND_GAP, end + ANSWER_HORIZON)
    seller_lines = Message.objects.filter(
        shop=shop, direction=MessageDirection.SELLER, received_at__gte=answer_window[0],
        received_at__lt=answer_window[1],
    )
    for conversation_id, at in seller_lines.values_list("conversation_id", "received_at").order_by().iterator(
            chunk_size=5000):
        if conversation_id in timelines:
            timelines[conversation_id].append((at, ANSWER))
    confirmed = OutgoingReply.objects.filter(
        shop=shop, state=OutgoingState.CONFIRMED, finished_at__gte=answer_window[0], finished_at__lt=answer_window[1]
    )
    for conversation_id, at in confirmed.values_list("conversation_id", "finished_at").order_by().iterator(
            chunk_size=5000):
        if conversation_id in timelines:
            timelines[conversation_id].append((at, ANSWER))

    responses: dict[date, list[float]] = defaultdict(list)
    for events in timelines.values():
        for round_ in conversation_rounds(events):
            day = day_of(round_.start)
            if day is None:
                continue
            row = figures[day]
            row["rounds"] += 1
            if round_.answered_at is not None:
                row["rounds_answered"] += 1
                responses[day].append(round_.response.total_seconds())
            if round_.rated:
                row["rounds_rated"] += 1
                row["rounds_rated_in_3_minutes"] += round_.in_3_minutes
    for day, values in responses.items():
        figures[day]["first_reply_median_seconds"] = median_seconds(values)
        figures[day]["first_reply_p95_seconds"] = p95_seconds(values)

    # Review outcomes on the day of the message reviewed.
    items = ReviewItem.objects.filter(
        shop=shop, status__in=list(REVIEW_OUTCOMES), message__received_at__gte=start, message__received_at__lt=end
    ).values_list("status", "message__received_at").order_by()
    for status, received_at in items.iterator(chunk_size=5000):
        row = figures[day_of(received_at)]
        row["reviewed"] += 1
        row[REVIEW_OUTCOMES[status]] += 1

    unknown = OutgoingReply.objects.filter(
        shop=shop, state=OutgoingState.UNKNOWN, created_at__gte=start, created_at__lt=end
    ).values_list("created_at", flat=True).order_by()
    for created_at in unknown.iterator(chunk_size=5000):
        figures[day_of(created_at)]["unknown_sends"] += 1

    _add_ai_cost(figures, shop=shop, first=first, last=last)
    return figures


def _add_ai_cost(figures: dict[date, dict], *, shop, first: date, last: date) -> None:
    costs = (
        UsageRecord.objects.filter(shop=shop, day__gte=first, day__lte=last)
        .values("day").annotate(cost=Sum("cost")).order_by()
    )
    for entry in costs:
        figures[entry["day"]]["ai_cost"] = entry["cost"] or Decimal("0")


# The same figures counted by PostgreSQL. Lines are grouped by their local day; a line's head is
# ``COALESCE(burst_head_id, id)``; the heads that went to review or got a knowledge-base reply are read
# from the same window as on the other path (received up to ANSWER_HORIZON after the range).
# Rounds follow ``rounds.conversation_rounds``: the events of a conversation (buyer lines kind 1,
# answers kind 0) in (moment, kind) order; a buyer line starts a round
# when the event before it is an answer, or none, or a buyer line more than ROUND_GAP earlier; the running
# count of starts numbers the rounds, and a round's first answer is the first kind-0 event of its number.
# Response times leave the database as whole microseconds (as ``timedelta`` holds them) so the median and
# p95 are computed by the same Python functions as on the other path.
LINES_SQL = """
WITH reviewed AS (
    SELECT DISTINCT r.message_id FROM {review} r JOIN {message} h ON h.id = r.message_id
    WHERE r.shop_id = %(shop)s AND h.received_at >= %(start)s AND h.received_at < %(horizon)s
), kb AS (
    SELECT DISTINCT p.message_id FROM {reply} p JOIN {message} h ON h.id = p.message_id
    WHERE h.shop_id = %(shop)s AND p.source = %(kb)s AND h.received_at >= %(start)s AND h.received_at < %(horizon)s
)
SELECT (m.received_at AT TIME ZONE %(tz)s)::date AS day,
       count(*),
       count(DISTINCT m.conversation_id),
       count(*) FILTER (WHERE m.status = %(answered)s AND reviewed.message_id IS NULL),
       count(*) FILTER (WHERE m.status = %(ignored)s),
       count(kb.message_id)
FROM {message} m
LEFT JOIN reviewed ON reviewed.message_id = COALESCE(m.burst_head_id, m.id)
LEFT JOIN kb ON kb.message_id = COALESCE(m.burst_head_id, m.id)
WHERE m.shop_id = %(shop)s AND m.direction = %(buyer)s AND m.received_at >= %(start)s AND m.received_at < %(end)s
GROUP BY 1
"""

ROUNDS_SQL = """
WITH events AS (
    SELECT conversation_id, received_at AS at, 1 AS kind FROM {message}
    WHERE shop_id = %(shop)s AND direction = %(buyer)s AND received_at >= %(lookback)s AND received_at < %(end)s
    UNION ALL
    SELECT conversation_id, received_at, 0 FROM {message}
    WHERE shop_id = %(shop)s AND direction = %(seller)s AND received_at >= %(lookback)s AND received_at < %(horizon)s
    UNION ALL
    SELECT conversation_id, finished_at, 0 FROM {outgoing}
    WHERE shop_id = %(shop)s AND state = %(confirmed)s AND finished_at >= %(lookback)s AND finished_at < %(horizon)s
), flagged AS (
    SELECT conversation_id, at, kind,
           CASE WHEN kind = 1 AND (lag(kind) OVER w IS NULL OR lag(kind) OVER w = 0
                                   OR at - lag(at) OVER w > %(gap)s) THEN 1 ELSE 0 END AS starts
    FROM events
    WINDOW w AS (PARTITION BY conversation_id ORDER BY at, kind)
), numbered AS (
    SELECT conversation_id, at, kind, starts,
           sum(starts) OVER (PARTITION BY conversation_id ORDER BY at, kind ROWS UNBOUNDED PRECEDING) AS round
    FROM flagged
), rounds AS (
    SELECT min(at) FILTER (WHERE starts = 1) AS start, min(at) FILTER (WHERE kind = 0) AS answered_at
    FROM numbered WHERE round > 0
    GROUP BY conversation_id, round
), timed AS (
    SELECT (start AT TIME ZONE %(tz)s)::date AS day,
           (start AT TIME ZONE %(rated_tz)s)::time >= %(rated_from)s AS rated,
           CASE WHEN answered_at - start <= %(horizon_interval)s
                THEN (extract(epoch FROM answered_at - start) * 1000000)::bigint END AS response
    FROM rounds WHERE start >= %(start)s AND start < %(end)s
)
SELECT day, count(*), count(response), count(*) FILTER (WHERE rated),
       count(*) FILTER (WHERE rated AND response <= %(limit)s),
       array_agg(response) FILTER (WHERE response IS NOT NULL)
FROM timed GROUP BY day
"""

REVIEW_SQL = """
SELECT (m.received_at AT TIME ZONE %(tz)s)::date, r.status, count(*)
FROM {review} r JOIN {message} m ON m.id = r.message_id
WHERE r.shop_id = %(shop)s AND r.status = ANY(%(outcomes)s) AND m.received_at >= %(start)s AND m.received_at < %(end)s
GROUP BY 1, 2
"""

UNKNOWN_SQL = """
SELECT (created_at AT TIME ZONE %(tz)s)::date, count(*) FROM {outgoing}
WHERE shop_id = %(shop)s AND state = %(unknown)s AND created_at >= %(start)s AND created_at < %(end)s
GROUP BY 1
"""


def _shop_day_figures_sql(*, shop, first: date, last: date) -> dict[date, dict]:
    days = _days(first, last)
    figures = _empty_figures(days)
    start, end = day_start(first), day_start(last + timedelta(days=1))
    tables = {"message": Message._meta.db_table, "review": ReviewItem._meta.db_table,
              "reply": Reply._meta.db_table, "outgoing": OutgoingReply._meta.db_table}
    params = {
        "tz": timezone.get_current_timezone_name(), "rated_tz": SHANGHAI.key, "rated_from": RATED_FROM,
        "shop": shop.pk, "start": start, "end": end, "lookback": start - ROUND_GAP, "horizon": end + ANSWER_HORIZON,
        "gap": ROUND_GAP, "horizon_interval": ANSWER_HORIZON, "limit": RESPONSE_LIMIT // timedelta(microseconds=1),
        "buyer": MessageDirection.BUYER.value, "seller": MessageDirection.SELLER.value,
        "answered": MessageStatus.ANSWERED.value, "ignored": MessageStatus.IGNORED.value,
        "kb": ReplySource.KB.value, "confirmed": OutgoingState.CONFIRMED.value,
        "unknown": OutgoingState.UNKNOWN.value, "outcomes": [status.value for status in REVIEW_OUTCOMES],
    }
    with transaction.atomic(), connection.cursor() as cursor:
        # A shop's month of events is sorted and hashed in memory rather than in temporary files.
        cursor.execute("SET LOCAL work_mem = %s", [SQL_WORK_MEM])
        cursor.execute(LINES_SQL.format(**tables), params)
        for day, messages, conversations, auto_answered, ignored, kb_hits in cursor.fetchall():
            figures[day].update(messages=messages, conversations=conversations, auto_answered=auto_answered,
                                ignored=ignored, kb_hits=kb_hits)
        cursor.execute(ROUNDS_SQL.format(**tables), params)
        for day, rounds, answered, rated, rated_in_time, responses in cursor.fetchall():
            values = [micros / 1_000_000 for micros in responses or ()]
            figures[day].update(
                rounds=rounds, rounds_answered=answered, rounds_rated=rated, rounds_rated_in_3_minutes=rated_in_time,
                first_reply_median_seconds=median_seconds(values), first_reply_p95_seconds=p95_seconds(values),
            )
        cursor.execute(REVIEW_SQL.format(**tables), params)
        for day, status, count in cursor.fetchall():
            figures[day]["reviewed"] += count
            figures[day][REVIEW_OUTCOMES[status]] = count
        cursor.execute(UNKNOWN_SQL.format(**tables), params)
        for day, count in cursor.fetchall():
            figures[day]["unknown_sends"] = count
    _add_ai_cost(figures, shop=shop, first=first, last=last)
    return figures


def daily_statistics_rollup(
    *,
    date_from: date,
    date_to: date,
    shops=None,
    progress: Callable[[str, int, int], None] | None = None,
) -> int:
    """Recompute and store the figures of every shop (or ``shops``) for local days ``date_from``..``date_to``.

    Days before a shop was created get no row. Returns the number of rows written (created or replaced).
    Raises StatisticsError for a reversed or too long range. Reads and writes the database only.
    """
    if date_from > date_to:
        raise StatisticsError(_("The first day must not be after the last."))
    if (date_to - date_from).days >= MAX_RANGE_DAYS:
        raise StatisticsError(_("Roll up at most %(n)d days at once.") % {"n": MAX_RANGE_DAYS})
    shops = list(Shop.objects.order_by("pk") if shops is None else shops)
    chunk_days = CHUNK_DAYS_SQL if connection.vendor == "postgresql" else CHUNK_DAYS
    chunks = []
    for shop in shops:
        first = max(date_from, timezone.localdate(shop.created_at))
        while first <= date_to:
            last = min(date_to, first + timedelta(days=chunk_days - 1))
            chunks.append((shop, first, last))
            first = last + timedelta(days=1)
    written = 0
    for done, (shop, first, last) in enumerate(chunks, start=1):
        figures = shop_day_figures(shop=shop, first=first, last=last)
        now = timezone.now()
        rows = [DailyStatistics(shop=shop, day=day, computed_at=now, **values) for day, values in figures.items()]
        with transaction.atomic():
            DailyStatistics.objects.bulk_create(
                rows, update_conflicts=True, unique_fields=["shop", "day"], update_fields=[*FIGURES, "computed_at"]
            )
        written += len(rows)
        if progress is not None:
            progress(_("days rolled up"), done, len(chunks))
    return written


def daily_statistics_rollup_recent(*, now: datetime | None = None) -> int:
    """Roll up yesterday and today (local): what the beat task runs."""
    today = timezone.localdate(now or timezone.now())
    return daily_statistics_rollup(date_from=today - timedelta(days=1), date_to=today)


@transaction.atomic
def shop_threshold_apply(*, actor, shop, threshold: float | None = None, ip: str | None = None,
                         user_agent: str = "") -> Calibration:
    """Set ``shop``'s auto-send threshold to ``threshold`` (default: the suggestion computed now), as a new
    version of its settings (rollback-able from their history), and return the calibration it came from.

    Raises CalibrationError when there is no suggestion to apply, ConfigPermissionDenied unless ``actor``
    administers the shop, ConfigValidationError when the value does not fit the settings (e.g. below the
    draft threshold).
    """
    calibration = shop_calibration_get(shop=shop)
    value = calibration.suggested if threshold is None else threshold
    if value is None:
        raise CalibrationError(_("There is no suggested threshold to apply: %(reason)s")
                               % {"reason": calibration.reason})
    if not 0 <= value <= 1:
        raise CalibrationError(_("A threshold lies between 0 and 1."), code="calibration_invalid")
    point = next((p for p in calibration.points if p.threshold == round(value, 2)), None)
    if point is not None and point.low is not None:
        reason = _("Calibrated auto-send threshold %(t).2f from %(n)d reviewed answers (precision at least %(low)s "
                   "with 95 %% confidence).") % {"t": value, "n": calibration.reviewed, "low": f"{point.low:.2%}"}
    else:
        reason = _("Auto-send threshold %(t).2f set from the calibration page.") % {"t": value}
    shop_settings_update(shop=shop, actor=actor, values={"auto_send_threshold": value}, reason=reason, ip=ip,
                         user_agent=user_agent)
    return calibration
