"""One poll of one Qianniu window: the cheap check, and the reading when something changed.

1. Find the window by title; missing, resized, partly off the screen or covered → a pause signal.
2. Capture the conversation list and the transcript; score badges and transcript change (no OCR).
3. Nothing changed → done (this is almost every poll).
4. The transcript changed → read the open conversation (nick from the header, lines from the transcript),
   align against its history, commit what is new through the store.
5. Badges → open each badged conversation, the one waiting longest first, and read it the same way.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .dedupe import ConversationRead, SeenStore, read_conversation
from .drift import DriftMonitor, PauseSignal
from .geometry import REGION_NAMES, Rect, Regions
from .imaging import changed_fraction
from .ocr import OcrEngine
from .platform.base import Desktop, Window
from .transcript import parse_transcript, read_nick
from .unread import BADGE_RGB, UnreadCheck, UnreadResult, oldest_first

IDLE, READ, PAUSED = "idle", "read", "paused"


@dataclass(frozen=True)
class PollSettings:
    """What a shop's settings say about its window. ``window_size``: the (width, height) the regions were set
    for (None: any); ``newest_on_top``: how the conversation list is ordered."""

    title: str
    regions: Regions
    unread_threshold: float = 0.5
    badge_rgb: tuple[int, int, int] = BADGE_RGB
    newest_on_top: bool = True
    window_size: tuple[int, int] | None = None
    open_timeout: float = 2.0


@dataclass
class PollResult:
    status: str
    unread: UnreadResult | None = None
    reads: list[ConversationRead] = field(default_factory=list)
    pause: PauseSignal | None = None
    timings: dict[str, float] = field(default_factory=dict)


class Poller:
    """Polls one window; keeps the last transcript frame and the drift counters between polls.

    ``lock``: held while the poller clicks (opening a conversation), the same lock the sender holds, so the
    two never fight over the mouse. ``recent_outgoing(conversation)``: kefu's own recent texts there, to tell
    its lines from a person's.
    """

    def __init__(self, desktop: Desktop, ocr: OcrEngine, store: SeenStore, settings: PollSettings, *,
                 drift: DriftMonitor | None = None, lock=None,
                 recent_outgoing: Callable[[str], Sequence[str]] = lambda conversation: ()):
        self.desktop, self.ocr, self.store, self.settings = desktop, ocr, store, settings
        self.drift = drift or DriftMonitor()
        self.lock = lock if lock is not None else contextlib.nullcontext()
        self.recent_outgoing = recent_outgoing
        self.unread = UnreadCheck(threshold=settings.unread_threshold, badge_rgb=settings.badge_rgb)
        self.window: Window | None = None

    def _area(self, window: Window, name: str) -> Rect:
        return getattr(self.settings.regions, name).offset(window.rect.x, window.rect.y)

    def check_window(self) -> tuple[Window | None, PauseSignal | None]:
        """The window, or the pause signal that says what is wrong with it."""
        # The window found last time, as it is now (a few requests), before a search of every window.
        window = self.desktop.refresh(self.window) if self.window else None
        if window is None or self.settings.title not in window.title:
            window = self.desktop.find_window(self.settings.title)
        self.window = window
        if window is None:
            return None, self.drift.window(found=False)
        size = (window.rect.width, window.rect.height)
        resized = ""
        if self.settings.window_size and tuple(self.settings.window_size) != size:
            resized = f"window is {size[0]}×{size[1]}, regions were set for " \
                      f"{self.settings.window_size[0]}×{self.settings.window_size[1]}"
        elif outside := self.settings.regions.outside(size):
            resized = f"regions outside the window: {', '.join(outside)}"
        screen = self.desktop.screen()
        off = [name for name in REGION_NAMES if not screen.contains(self._area(window, name))]
        above = self.desktop.windows_above(window)
        covered = ", ".join(repr(w.title or hex(w.handle)) for w in above)
        signal = self.drift.window(found=True, resized=resized,
                                   off_screen=f"off the screen: {', '.join(off)}" if off else "",
                                   covered=f"covered by {covered}" if covered else "")
        return window, signal

    def poll(self) -> PollResult:
        started = time.monotonic()
        result = PollResult(IDLE)
        window, signal = self.check_window()
        if signal is not None:
            result.status, result.pause = PAUSED, signal
            return result
        result.unread = unread = self.unread.check(self.desktop.capture(self._area(window, "conversation_list")),
                                                   self.desktop.capture(self._area(window, "transcript")))
        result.timings["check"] = time.monotonic() - started
        if not unread.triggered:
            return result
        result.status = READ
        # Reading holds the sender's lock too: a line kefu is submitting is then either not yet on screen or
        # already among its recent outgoing texts, never seen half way and taken for a person's.
        with self.lock:
            self._read_changes(window, unread, result)
        result.timings["total"] = time.monotonic() - started
        return result

    def _read_changes(self, window: Window, unread: UnreadResult, result: PollResult) -> None:
        if min(1.0, unread.transcript_change / self.unread.full_change) >= self.settings.unread_threshold:
            read, signal = self.read_open(window)
            if signal:
                result.status, result.pause = PAUSED, signal
                return
            if read:
                result.reads.append(read)
        for badge in oldest_first(unread.badges, newest_on_top=self.settings.newest_on_top):
            read, signal = self.open_and_read(window, badge.y)
            if signal:
                result.status, result.pause = PAUSED, signal
                return
            if read:
                result.reads.append(read)
        # What is on screen now has been read: it is the next poll's baseline.
        self.unread.previous = self.desktop.capture(self._area(window, "transcript"))

    def open_and_read(self, window: Window, row_y: int) -> tuple[ConversationRead | None, PauseSignal | None]:
        """Click the list row at ``row_y`` (relative to the list) and read the conversation it opens."""
        area = self._area(window, "transcript")
        before = self.desktop.capture(area)
        header_area = self._area(window, "chat_header")
        header_before = self.desktop.capture(header_area)
        conversation_list = self._area(window, "conversation_list")
        self.desktop.click(conversation_list.x + conversation_list.width // 3, conversation_list.y + row_y)
        deadline = time.monotonic() + self.settings.open_timeout
        while time.monotonic() < deadline:
            if changed_fraction(header_before, self.desktop.capture(header_area)) > 0 or \
                    changed_fraction(before, self.desktop.capture(area)) > 0:
                break
            time.sleep(0.03)
        # The header may change before the transcript is drawn: read once two frames agree.
        frame = self.desktop.capture(area)
        while time.monotonic() < deadline:
            time.sleep(0.03)
            following = self.desktop.capture(area)
            if changed_fraction(frame, following) == 0:
                break
            frame = following
        return self.read_open(window)

    def read_open(self, window: Window) -> tuple[ConversationRead | None, PauseSignal | None]:
        """Read the open conversation and commit what it adds; a pause signal when the reading is implausible."""
        regions = self.settings.regions
        nick = read_nick(self.ocr.read(self.desktop.capture(self._area(window, "chat_header"))))
        pieces = self.ocr.read(self.desktop.capture(self._area(window, "transcript")))
        lines = parse_transcript(pieces, regions.transcript.width, regions.transcript.height)
        confidence = sum(p.score for p in pieces) / len(pieces) if pieces else None
        signal = self.drift.reading(nick=nick, lines=len(lines), confidence=confidence)
        if signal or not nick:
            return None, signal
        read = read_conversation(nick, lines, self.store.tail(nick), self.recent_outgoing(nick))
        if read.records:
            self.store.commit(read)
        return read, None
