"""Conversation rounds, as Qianniu rates response times: pure functions over one conversation's timeline.

A round starts at a buyer's line when the seller has answered since the buyer's previous line (or there
is none), and ends at the seller's first answer after it (a seller line, or a reply kefu's outbox
confirmed). Two rules keep every round decidable from a bounded stretch of history, so a day's figures
do not depend on how far back a roll-up reads:

- a buyer's line more than ``ROUND_GAP`` after the previous buyer line of an unanswered round starts a
  new round (the earlier one stays unanswered);
- an answer more than ``ANSWER_HORIZON`` after the round started does not answer it (unanswered).

Qianniu's 3-minute response rate counts the rounds started between 08:00 and 24:00 (Asia/Shanghai) and
the share of them answered within 3 minutes; an unanswered round counts as not answered in time.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

ROUND_GAP = timedelta(hours=24)
ANSWER_HORIZON = timedelta(hours=24)
RESPONSE_LIMIT = timedelta(minutes=3)
RATED_FROM = time(8, 0)  # Qianniu rates rounds started 08:00–24:00 local time
SHANGHAI = ZoneInfo("Asia/Shanghai")

BUYER, ANSWER = 1, 0  # sort order at the same instant: an answer first, then the buyer's new line


@dataclass(frozen=True)
class Round:
    start: datetime
    answered_at: datetime | None

    @property
    def response(self) -> timedelta | None:
        return None if self.answered_at is None else self.answered_at - self.start

    @property
    def rated(self) -> bool:
        """Started 08:00–24:00 Asia/Shanghai: a round Qianniu's 3-minute rate counts."""
        return self.start.astimezone(SHANGHAI).time() >= RATED_FROM

    @property
    def in_3_minutes(self) -> bool:
        return self.answered_at is not None and self.response <= RESPONSE_LIMIT


def conversation_rounds(events: Iterable[tuple[datetime, int]]) -> list[Round]:
    """The rounds of one conversation from its ``(moment, BUYER | ANSWER)`` events (any order)."""
    rounds: list[Round] = []
    open_start: datetime | None = None
    last_buyer: datetime | None = None
    for at, kind in sorted(events):
        if kind == BUYER:
            if open_start is not None and at - last_buyer > ROUND_GAP:
                rounds.append(Round(open_start, None))
                open_start = None
            if open_start is None:
                open_start = at
            last_buyer = at
        elif open_start is not None:
            rounds.append(Round(open_start, at if at - open_start <= ANSWER_HORIZON else None))
            open_start = None
    if open_start is not None:
        rounds.append(Round(open_start, None))
    return rounds


def median_seconds(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def p95_seconds(values: list[float]) -> float | None:
    """The 95th percentile by nearest rank: the smallest value at least 95 % of the values do not exceed."""
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)])
