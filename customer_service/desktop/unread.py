"""The cheap check every poll makes before anything expensive: is there something new to read?

Two signals, both plain numpy on two small captures (a few milliseconds together):

- **badges**: the conversation list marks conversations with unread lines by a red badge; a run of rows
  holding enough pixels of the badge colour is one badge, and its height on the list says which row;
- **transcript change**: the open conversation shows no badge (its lines are read as they arrive), so a
  change of its transcript since the last poll is the other signal.

Each gives a score in [0, 1]; the poll reads on when the larger reaches the shop's unread threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .imaging import _runs, changed_fraction

BADGE_RGB = (255, 59, 48)  # Qianniu's badge red; a theme with another red sets its own
# Badge pixels that make a badge score of 1 (a 16-px badge has about 200; anti-aliased edges fewer).
FULL_BADGE_PIXELS = 40
# Share of transcript pixels changed that makes a change score of 1 (a new short line changes about 1 %).
FULL_CHANGE = 0.002


@dataclass(frozen=True)
class Badge:
    """A red unread badge on the conversation list: its centre relative to the list region, and its size."""

    x: int
    y: int
    pixels: int


@dataclass
class UnreadResult:
    badges: list[Badge] = field(default_factory=list)
    transcript_change: float = 0.0
    score: float = 0.0
    triggered: bool = False


def find_badges(list_image: np.ndarray, *, rgb: tuple[int, int, int] = BADGE_RGB, tolerance: int = 48,
                min_pixels: int = 12, row_join: int = 2, stride: int = 2) -> list[Badge]:
    """Badges on a BGR capture of the conversation list, top to bottom.

    A pixel is badge-coloured when each channel is within ``tolerance`` of ``rgb``; runs of rows with such
    pixels (gaps up to ``row_join`` pixels, for the white count drawn inside) are one badge if they hold at
    least ``min_pixels`` of them. Every ``stride``-th row and column is looked at (a badge is bigger than
    that); positions and counts are given in full-resolution pixels.
    """
    list_image = list_image[::stride, ::stride]
    mask = np.ones(list_image.shape[:2], dtype=bool)
    for channel, value in enumerate(rgb[::-1]):  # uint8 comparisons: no wider copy of the capture
        plane = list_image[:, :, channel]
        mask &= (plane >= max(0, value - tolerance)) & (plane <= min(255, value + tolerance))
    per_row = mask.sum(axis=1)
    bands: list[list[int]] = []
    for start, end in _runs(per_row > 0):
        if bands and (start - bands[-1][1]) * stride <= row_join:
            bands[-1][1] = end
        else:
            bands.append([start, end])
    badges = []
    for top, bottom in bands:
        pixels = int(per_row[top:bottom].sum()) * stride * stride
        if pixels < min_pixels:
            continue
        columns = np.flatnonzero(mask[top:bottom].any(axis=0))
        badges.append(Badge(x=int(columns.mean()) * stride, y=(top + bottom) * stride // 2, pixels=pixels))
    return badges


def oldest_first(badges: list[Badge], *, newest_on_top: bool = True) -> list[Badge]:
    """Badged conversations in the order to answer them: the one waiting longest first.

    Qianniu's list is ordered by last activity, newest on top, so the lowest badge is the conversation whose
    last line is oldest (``newest_on_top=False`` for a list kept the other way round).
    """
    return sorted(badges, key=lambda badge: -badge.y if newest_on_top else badge.y)


class UnreadCheck:
    """Remembers the last transcript frame; :meth:`check` scores the next poll's captures."""

    def __init__(self, *, threshold: float = 0.5, badge_rgb: tuple[int, int, int] = BADGE_RGB,
                 badge_tolerance: int = 48, full_badge_pixels: int = FULL_BADGE_PIXELS,
                 full_change: float = FULL_CHANGE):
        self.threshold = threshold
        self.badge_rgb, self.badge_tolerance = badge_rgb, badge_tolerance
        self.full_badge_pixels, self.full_change = full_badge_pixels, full_change
        self.previous: np.ndarray | None = None

    def check(self, list_image: np.ndarray, transcript_image: np.ndarray) -> UnreadResult:
        badges = find_badges(list_image, rgb=self.badge_rgb, tolerance=self.badge_tolerance)
        change = changed_fraction(self.previous, transcript_image)
        self.previous = transcript_image
        badge_score = min(1.0, max((b.pixels for b in badges), default=0) / self.full_badge_pixels)
        score = max(badge_score, min(1.0, change / self.full_change))
        return UnreadResult(badges=badges, transcript_change=change, score=score,
                            triggered=score >= self.threshold and score > 0)

    def forget(self) -> None:
        """Drop the remembered frame (after switching conversation, the next frame is a new baseline)."""
        self.previous = None
