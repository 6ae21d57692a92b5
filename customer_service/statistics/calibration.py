"""A calibrated auto-send threshold per shop, from what people decided in review.

An answer a person approved unedited was right; one they edited or rejected was wrong. For each threshold
``t`` the precision kefu would have had sending on its own every reviewed answer whose confidence is at
least ``t`` is right / all of them, with a Wilson score interval (95 %). The suggestion is the lowest
threshold whose lower bound reaches the shop's target precision, once the shop has enough reviewed answers.
Silence is not evidence: only decided review items with a draft that carries a confidence count — never
pending or expired items, and never answers sent without review (nobody judged them).

The Wilson bound is five lines of arithmetic (Wilson 1927; Agresti & Coull 1998): written here rather than
bringing in scipy or statsmodels for one formula.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext as _

from configs.selectors import shop_settings_get
from customer_service.models import ReviewItem, ReviewStatus
from kefu.exceptions import KefuError

Z_95 = 1.959963984540054  # the standard normal's 97.5th percentile
THRESHOLDS = tuple(round(0.50 + 0.01 * n, 2) for n in range(50))  # 0.50 … 0.99
DECIDED = (ReviewStatus.APPROVED, ReviewStatus.EDITED, ReviewStatus.REJECTED)
DEFAULT_TARGET, DEFAULT_MIN_REVIEWED = 0.98, 100


class CalibrationError(KefuError):
    code = "calibration_unavailable"


def wilson_interval(right: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``right / n`` (``(0, 1)`` when ``n`` is 0)."""
    if n == 0:
        return 0.0, 1.0
    p = right / n
    denominator = 1 + z * z / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / denominator), min(1.0, (centre + margin) / denominator)


@dataclass(frozen=True)
class ThresholdPoint:
    threshold: float
    answers: int  # reviewed answers with a confidence at least the threshold
    right: int
    precision: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Calibration:
    shop_id: int
    reviewed: int
    target: float
    min_reviewed: int
    current: float
    points: tuple[ThresholdPoint, ...]
    suggested: float | None
    reason: str


def threshold_curve(outcomes: list[tuple[float, bool]], thresholds=THRESHOLDS) -> tuple[ThresholdPoint, ...]:
    """The precision and its interval at each threshold, from ``(confidence, right)`` outcomes."""
    ordered = sorted(outcomes)
    confidences = [confidence for confidence, _right in ordered]
    right_after = [0] * (len(ordered) + 1)  # right_after[i]: right answers among ordered[i:]
    for index in range(len(ordered) - 1, -1, -1):
        right_after[index] = right_after[index + 1] + ordered[index][1]
    points = []
    for threshold in thresholds:
        start = bisect.bisect_left(confidences, threshold)
        answers, right = len(ordered) - start, right_after[start]
        if answers:
            low, high = wilson_interval(right, answers)
            points.append(ThresholdPoint(threshold, answers, right, right / answers, low, high))
        else:
            points.append(ThresholdPoint(threshold, 0, 0, None, None, None))
    return tuple(points)


def threshold_suggest(points, *, target: float, reviewed: int, min_reviewed: int) -> float | None:
    """The lowest threshold whose Wilson lower bound reaches ``target``, or None (too few reviewed answers,
    or no threshold reaches it)."""
    if reviewed < min_reviewed:
        return None
    return next((p.threshold for p in points if p.low is not None and p.low >= target), None)


def review_outcomes(*, shop, since: datetime | None = None) -> list[tuple[float, bool]]:
    """``(confidence of the draft, approved unedited)`` of every review item of ``shop`` a person decided."""
    items = ReviewItem.objects.filter(shop=shop, status__in=DECIDED, draft__confidence__isnull=False)
    if since is not None:
        items = items.filter(reviewed_at__gte=since)
    return [(confidence, status == ReviewStatus.APPROVED)
            for confidence, status in items.values_list("draft__confidence", "status").order_by()]


def shop_calibration_get(*, shop, since: datetime | None = None) -> Calibration:
    """The shop's precision curve and suggested auto-send threshold (reads only)."""
    settings = shop_settings_get(shop=shop)
    group = settings.get("auto_send_calibration") or {}
    target = float(group.get("target_precision", DEFAULT_TARGET))
    min_reviewed = int(group.get("min_reviewed", DEFAULT_MIN_REVIEWED))
    outcomes = review_outcomes(shop=shop, since=since)
    points = threshold_curve(outcomes)
    suggested = threshold_suggest(points, target=target, reviewed=len(outcomes), min_reviewed=min_reviewed)
    if len(outcomes) < min_reviewed:
        reason = _("%(n)d reviewed answers so far; a suggestion needs %(min)d.") % {
            "n": len(outcomes), "min": min_reviewed}
    elif suggested is None:
        reason = _("No threshold reaches a precision of %(target)s with 95 %% confidence yet.") % {
            "target": f"{target:.2%}"}
    else:
        point = next(p for p in points if p.threshold == suggested)
        reason = _("At %(t).2f, %(right)d of %(n)d reviewed answers were right: precision at least %(low)s "
                   "with 95 %% confidence (target %(target)s).") % {
            "t": suggested, "right": point.right, "n": point.answers, "low": f"{point.low:.2%}",
            "target": f"{target:.2%}"}
    return Calibration(shop_id=shop.pk, reviewed=len(outcomes), target=target, min_reviewed=min_reviewed,
                       current=float(settings["auto_send_threshold"]), points=points, suggested=suggested,
                       reason=reason)
