"""Reads for the desktop side: a shop's desktop settings, typed; pauses; what kefu sent lately; records."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q

from configs.selectors import shop_settings_get
from customer_service.models import (
    CaptureKind,
    CaptureRecord,
    DesktopPause,
    JobRecord,
    OutgoingReply,
    OutgoingState,
    Shop,
)

from .drift import DriftMonitor
from .geometry import Regions
from .poller import PollSettings

RECENT_OUTGOING = 20


def _rgb(colour: str) -> tuple[int, int, int]:
    colour = colour.lstrip("#")
    return tuple(int(colour[i:i + 2], 16) for i in (0, 2, 4))


@dataclass(frozen=True)
class DesktopSettings:
    """A shop's ``desktop`` settings group with the two older settings the desktop reads (reply delay,
    unread threshold), typed. ``title`` is the shop's Qianniu window title."""

    title: str
    enabled: bool
    regions: Regions
    window_size: tuple[int, int] | None
    badge_rgb: tuple[int, int, int]
    newest_on_top: bool
    poll_interval_seconds: int
    submit: str
    readback_timeout_seconds: float
    drift_polls: int
    min_ocr_confidence: float
    unconfirmed_sends: int
    debug_captures: bool
    capture_retention_hours: int
    reply_delay_seconds: float
    unread_threshold: float
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_shop_settings(cls, values: dict, *, title: str) -> DesktopSettings:
        desktop = values.get("desktop") or {}
        width, height = desktop.get("window_width", 0), desktop.get("window_height", 0)
        return cls(
            title=title,
            enabled=bool(desktop.get("enabled", False)),
            regions=Regions.from_mapping(desktop.get("regions") or {}),
            window_size=(width, height) if width and height else None,
            badge_rgb=_rgb(desktop.get("badge_colour", "#ff3b30")),
            newest_on_top=bool(desktop.get("newest_on_top", True)),
            poll_interval_seconds=int(desktop.get("poll_interval_seconds", 1)),
            submit=desktop.get("submit", "enter"),
            readback_timeout_seconds=float(desktop.get("readback_timeout_seconds", 8)),
            drift_polls=int(desktop.get("drift_polls", 3)),
            min_ocr_confidence=float(desktop.get("min_ocr_confidence", 0.7)),
            unconfirmed_sends=int(desktop.get("unconfirmed_sends", 2)),
            debug_captures=bool(desktop.get("debug_captures", False)),
            capture_retention_hours=int(desktop.get("capture_retention_hours", 72)),
            reply_delay_seconds=float(values.get("reply_delay_seconds", 0) or 0),
            unread_threshold=float(values.get("unread_threshold", 0.5)),
            raw=desktop,
        )

    @property
    def runnable(self) -> bool:
        """Whether the desktop worker polls this shop: switched on and a window title to look for."""
        return self.enabled and bool(self.title)

    def poll_settings(self) -> PollSettings:
        return PollSettings(title=self.title, regions=self.regions, unread_threshold=self.unread_threshold,
                            badge_rgb=self.badge_rgb, newest_on_top=self.newest_on_top, window_size=self.window_size)

    def drift_monitor(self) -> DriftMonitor:
        return DriftMonitor(polls=self.drift_polls, min_confidence=self.min_ocr_confidence,
                            unconfirmed_sends=self.unconfirmed_sends)


def desktop_settings_get(*, shop: Shop) -> DesktopSettings:
    """``shop``'s desktop settings, every default filled in (cached by configs; a write is seen at once)."""
    return DesktopSettings.from_shop_settings(shop_settings_get(shop=shop), title=shop.qianniu_title)


def desktop_pause_get(*, shop: Shop | int | None) -> DesktopPause | None:
    """The open pause that stops sending into ``shop``'s window: the shop's own, else the one of every shop.
    ``shop=None``: the pause of every shop only."""
    shop_id = shop.pk if isinstance(shop, Shop) else shop
    pauses = DesktopPause.objects.open()
    if shop_id is None:
        return pauses.filter(shop__isnull=True).first()
    return pauses.filter(Q(shop_id=shop_id) | Q(shop__isnull=True)).order_by("shop_id").first()


def recent_outgoing_texts(*, shop: Shop | int, buyer_id: str, limit: int = RECENT_OUTGOING) -> list[str]:
    """What kefu typed (or is typing) into ``buyer_id``'s conversation lately, oldest first: the seller lines
    on screen that are kefu's, not a person's."""
    shop_id = shop.pk if isinstance(shop, Shop) else shop
    texts = list(
        OutgoingReply.objects.filter(
            shop_id=shop_id, conversation__buyer_id=buyer_id,
            state__in=[OutgoingState.SENDING, OutgoingState.CONFIRMED, OutgoingState.UNKNOWN],
        ).order_by("-claimed_at", "-pk").values_list("text", flat=True)[:limit]
    )
    return texts[::-1]


def desktop_due_outgoing(*, shop: Shop | int, reply_delay_seconds: float, now=None):
    """The shop's queued replies whose reply delay has passed, oldest first."""
    from datetime import timedelta

    from django.utils import timezone

    shop_id = shop.pk if isinstance(shop, Shop) else shop
    now = now or timezone.now()
    return OutgoingReply.objects.filter(
        shop_id=shop_id, state=OutgoingState.QUEUED,
        created_at__lte=now - timedelta(seconds=reply_delay_seconds),
    ).order_by("created_at", "pk")


def job_record_list(*, user):
    return JobRecord.objects.for_user(user).select_related("shop")


def capture_latest_calibration(*, shop: Shop) -> CaptureRecord | None:
    return CaptureRecord.objects.filter(shop=shop, kind=CaptureKind.CALIBRATION).order_by("-created_at", "-pk").first()
