"""Rectangles on the screen and the regions of the Qianniu window that kefu looks at.

Regions are relative to the window's top-left corner and come from the shop's settings: nothing here knows
what a Qianniu version looks like.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

REGION_NAMES = ("conversation_list", "chat_header", "transcript", "input_box", "send_button")


class RegionError(ValueError):
    """A region is missing, empty or outside the window."""


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    width: int
    height: int

    @classmethod
    def parse(cls, value) -> Rect:
        """A Rect from ``[x, y, w, h]`` or ``{"x", "y", "width"/"w", "height"/"h"}``."""
        if isinstance(value, Rect):
            return value
        if isinstance(value, Mapping):
            value = [value.get("x"), value.get("y"), value.get("width", value.get("w")),
                     value.get("height", value.get("h"))]
        try:
            x, y, width, height = (int(v) for v in value)
        except (TypeError, ValueError):
            raise RegionError(f"not a rectangle: {value!r}") from None
        if width <= 0 or height <= 0 or x < 0 or y < 0:
            raise RegionError(f"a rectangle needs x, y ≥ 0 and a positive size: {value!r}")
        return cls(x, y, width, height)

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height

    @property
    def center(self) -> tuple[int, int]:
        return self.x + self.width // 2, self.y + self.height // 2

    def offset(self, dx: int, dy: int) -> Rect:
        return Rect(self.x + dx, self.y + dy, self.width, self.height)

    def intersection(self, other: Rect) -> Rect | None:
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1, y1 = min(self.right, other.right), min(self.bottom, other.bottom)
        if x1 <= x0 or y1 <= y0:
            return None
        return Rect(x0, y0, x1 - x0, y1 - y0)

    def contains(self, other: Rect) -> bool:
        return self.x <= other.x and self.y <= other.y and other.right <= self.right and other.bottom <= self.bottom

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.width, self.height]


@dataclass(frozen=True)
class Regions:
    """The five parts of the reception window, each relative to the window's top-left corner."""

    conversation_list: Rect
    chat_header: Rect
    transcript: Rect
    input_box: Rect
    send_button: Rect

    @classmethod
    def from_mapping(cls, data: Mapping) -> Regions:
        """Regions from settings (``{"transcript": [x, y, w, h], …}``); RegionError names what is wrong."""
        missing = [name for name in REGION_NAMES if name not in data]
        if missing:
            raise RegionError(f"regions missing: {', '.join(missing)}")
        parsed = {}
        for name in REGION_NAMES:
            try:
                parsed[name] = Rect.parse(data[name])
            except RegionError as exc:
                raise RegionError(f"{name}: {exc}") from None
        return cls(**parsed)

    def as_dict(self) -> dict[str, list[int]]:
        return {name: Rect(**value).as_list() for name, value in asdict(self).items()}

    def outside(self, window_size: tuple[int, int]) -> list[str]:
        """Names of the regions that do not fit in a window of ``(width, height)``."""
        frame = Rect(0, 0, *window_size)
        return [name for name in REGION_NAMES if not frame.contains(getattr(self, name))]
