"""Typing a reply into Qianniu as a person would, and reading it back.

One keyboard, one sender: a file lock makes every sender on this desktop (threads and worker processes)
take turns. The text is pasted (typing drops Chinese), the clipboard the seller had is put back, and Enter or
the send button submits it. Then the transcript is read until the reply shows as the latest seller line that
was not there before: ``confirmed``. Not seen in time: ``unknown`` — it may or may not have reached the buyer,
so it is never sent again by kefu; a person decides. Anything that stops before the submit is ``not_sent``:
nothing reached the buyer.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from .dedupe import SeenLine, align, fingerprint
from .geometry import Rect, Regions
from .imaging import changed_fraction, text_boxes
from .ocr import OcrEngine
from .platform.base import Desktop, DesktopError, Window
from .text import comparison_key, normalise
from .transcript import SELLER, TranscriptLine, parse_transcript, read_nick

logger = logging.getLogger(__name__)

CONFIRMED, UNKNOWN, NOT_SENT = "confirmed", "unknown", "not_sent"
SUBMIT_ENTER, SUBMIT_BUTTON = "enter", "button"


@dataclass
class SendResult:
    """``status``: confirmed | unknown | not_sent; ``reason`` says why when it is not confirmed; ``timings``
    in seconds from the start of the send (lock, paste, submit, confirm)."""

    status: str
    reason: str = ""
    timings: dict[str, float] = field(default_factory=dict)


def _history(lines: list[TranscriptLine]) -> list[SeenLine]:
    return [SeenLine(i, line.speaker, normalise(line.text), line.time, fingerprint(line.speaker, line.text))
            for i, line in enumerate(line for line in lines if not line.partial)]


class Sender:
    """Sends replies into one desktop's Qianniu windows; remembers what it sent per conversation."""

    def __init__(self, desktop: Desktop, ocr: OcrEngine, *, lock_path: Path | str, lock_timeout: float = 30.0,
                 remember: int = 20):
        self.desktop, self.ocr = desktop, ocr
        self.lock = FileLock(str(lock_path))
        self.lock_timeout = lock_timeout
        self.sent: dict[str, deque[str]] = defaultdict(lambda: deque(maxlen=remember))

    def recent_outgoing(self, conversation: str) -> list[str]:
        """Texts this sender submitted to ``conversation`` lately (confirmed or not), oldest first."""
        return list(self.sent[conversation])

    def _area(self, window: Window, region: Rect) -> Rect:
        return region.offset(window.rect.x, window.rect.y)

    def _read_transcript(self, window: Window, regions: Regions) -> tuple[object, list[TranscriptLine]]:
        image = self.desktop.capture(self._area(window, regions.transcript))
        pieces = self.ocr.read(image)
        return image, parse_transcript(pieces, regions.transcript.width, regions.transcript.height)

    def send(self, *, title: str, regions: Regions, conversation: str, text: str, submit: str = SUBMIT_ENTER,
             timeout: float = 8.0, paste_timeout: float = 3.0, delay: float = 0.0) -> SendResult:
        """Send ``text`` to the buyer ``conversation`` in the window titled ``title``; see the module docstring.

        ``delay``: the shop's reply delay, waited before taking the desktop (other sends go on meanwhile).

        Refuses (``not_sent``) when the window is missing or covered, another conversation is open, the input
        box already holds text (a person is typing), or the paste does not show in the input box.
        """
        if delay > 0:
            time.sleep(delay)
        started = time.monotonic()
        timings: dict[str, float] = {}

        def mark(name: str) -> None:
            timings[name] = round(time.monotonic() - started, 4)

        try:
            self.lock.acquire(timeout=self.lock_timeout)
        except Timeout:
            return SendResult(NOT_SENT, "another send holds the desktop", timings)
        try:
            mark("lock")
            return self._send_locked(title, regions, conversation, text, submit, timeout, paste_timeout,
                                     mark, timings)
        except DesktopError as exc:
            # Raised before the submit only: after it every path returns a result.
            return SendResult(NOT_SENT, str(exc), timings)
        finally:
            self.lock.release()

    def _send_locked(self, title, regions, conversation, text, submit, timeout, paste_timeout, mark, timings):
        desktop = self.desktop
        window = desktop.find_window(title)
        if window is None:
            return SendResult(NOT_SENT, "window not found", timings)
        if desktop.windows_above(window):
            return SendResult(NOT_SENT, "another window covers the Qianniu window", timings)
        desktop.activate(window)
        nick = read_nick(self.ocr.read(desktop.capture(self._area(window, regions.chat_header))))
        if comparison_key(nick or "") != comparison_key(conversation):
            nick = self._open_conversation(window, regions, conversation) or nick
        if comparison_key(nick or "") != comparison_key(conversation):
            return SendResult(NOT_SENT, f"the open conversation is {nick!r}, not {conversation!r}", timings)
        before_image, before = self._read_transcript(window, regions)
        input_area = self._area(window, regions.input_box)
        if self.ocr.read(desktop.capture(input_area)):
            return SendResult(NOT_SENT, "the input box already holds text", timings)
        mark("read_before")

        desktop.click(*input_area.center)
        previous = desktop.paste(text)
        try:
            # Text in the box, not any change: a blinking caret changes pixels too, and putting the old
            # clipboard back before the paste has read ours would paste the seller's old clipboard.
            deadline = time.monotonic() + paste_timeout
            while not text_boxes(desktop.capture(input_area)):
                if time.monotonic() > deadline:
                    return SendResult(NOT_SENT, "the paste did not show in the input box", timings)
                time.sleep(0.02)
        finally:
            desktop.set_clipboard_text(previous)
        mark("pasted")

        if submit == SUBMIT_BUTTON:
            desktop.click(*self._area(window, regions.send_button).center)
        else:
            desktop.press("enter")
        self.sent[conversation].append(text)
        mark("submitted")
        return self._read_back(window, regions, text, before_image, before, timeout, mark, timings)

    def _open_conversation(self, window: Window, regions: Regions, conversation: str,
                           timeout: float = 2.0) -> str | None:
        """Click ``conversation`` in the conversation list (its nick read there) and wait for the header to
        show it; the nick the header shows then, or None when the list has no such row."""
        list_area = self._area(window, regions.conversation_list)
        wanted = comparison_key(conversation)
        pieces = self.ocr.read(self.desktop.capture(list_area))
        row = next((p for p in pieces if comparison_key(p.text) == wanted), None) or next(
            (p for p in pieces if comparison_key(p.text).startswith(wanted)), None)
        if row is None:
            return None
        header_area = self._area(window, regions.chat_header)
        self.desktop.click(list_area.x + row.rect.center[0], list_area.y + row.rect.center[1])
        deadline = time.monotonic() + timeout
        while True:
            nick = read_nick(self.ocr.read(self.desktop.capture(header_area)))
            if comparison_key(nick or "") == wanted or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        # The transcript may be drawn after the header: wait until two frames agree.
        transcript_area = self._area(window, regions.transcript)
        frame = self.desktop.capture(transcript_area)
        while time.monotonic() < deadline:
            time.sleep(0.03)
            following = self.desktop.capture(transcript_area)
            if changed_fraction(frame, following) == 0:
                break
            frame = following
        return nick

    def _read_back(self, window, regions, text, before_image, before, timeout, mark, timings) -> SendResult:
        """Confirmed when a new seller line equal to ``text`` is the latest seller line on screen."""
        history, wanted = _history(before), comparison_key(text)
        deadline = time.monotonic() + timeout
        while True:
            try:
                image = self.desktop.capture(self._area(window, regions.transcript))
                if changed_fraction(before_image, image) > 0:
                    lines = parse_transcript(self.ocr.read(image), regions.transcript.width,
                                             regions.transcript.height)
                    new = align(history, lines).new if history else [x for x in lines if not x.partial]
                    sellers = [line for line in lines if line.speaker == SELLER and not line.partial]
                    if sellers and comparison_key(sellers[-1].text) == wanted and any(
                            line is sellers[-1] for line in new):
                        mark("confirmed")
                        return SendResult(CONFIRMED, "", timings)
            except DesktopError as exc:  # the window went away after the submit: the outcome is unknown
                logger.warning("read-back failed: %s", exc)
            if time.monotonic() > deadline:
                mark("gave_up")
                return SendResult(UNKNOWN, f"the reply did not show as the latest seller line within {timeout:g} s",
                                  timings)
            time.sleep(0.1)
