"""What kefu needs from a windowing system, and the parts every system shares (capture, clipboard)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from ..geometry import Rect


class DesktopError(RuntimeError):
    """The windowing system refused or failed an action (no display, capture failed, no clipboard tool)."""


@dataclass(frozen=True)
class Window:
    """A top-level window: its system handle, title and client area in screen coordinates."""

    handle: int
    title: str
    rect: Rect


class Desktop(ABC):
    """One screen, keyboard and mouse. Captures are BGR ``uint8`` arrays of shape (height, width, 3)."""

    def __init__(self, mss_options: dict | None = None):
        import mss

        try:
            self._grabber = mss.MSS(**(mss_options or {}))
        except Exception as exc:  # mss raises its own ScreenShotError, or an OSError without a display
            raise DesktopError(f"cannot capture the screen: {exc}") from exc

    # --- windows -------------------------------------------------------------------------------------------
    @abstractmethod
    def find_window(self, title: str) -> Window | None:
        """The visible top-level window whose title contains ``title`` (an exact match first), or None."""

    @abstractmethod
    def refresh(self, window: Window) -> Window | None:
        """``window`` as it is now (moved, renamed), or None when it is closed or hidden."""

    @abstractmethod
    def screen(self) -> Rect:
        """The area of all screens together, in screen coordinates."""

    @abstractmethod
    def activate(self, window: Window) -> None:
        """Raise ``window`` above the others and give it the keyboard."""

    @abstractmethod
    def windows_above(self, window: Window) -> list[Window]:
        """Visible top-level windows stacked above ``window`` that overlap it (a dialog, another program)."""

    # --- input ---------------------------------------------------------------------------------------------
    @abstractmethod
    def click(self, x: int, y: int) -> None:
        """A left click at screen coordinates."""

    @abstractmethod
    def press(self, key: str) -> None:
        """Press and release ``key``: ``"enter"``, or a chord such as ``"ctrl+v"``."""

    # --- capture -------------------------------------------------------------------------------------------
    def capture(self, rect: Rect) -> np.ndarray:
        """The pixels of ``rect`` (screen coordinates) as a BGR array."""
        try:
            shot = self._grabber.grab({"left": rect.x, "top": rect.y, "width": rect.width, "height": rect.height})
        except Exception as exc:
            raise DesktopError(f"capture of {rect.as_list()} failed: {exc}") from exc
        # A BGR view straight over the BGRA bytes (a copy mss makes, so later grabs cannot change it); its base
        # stays those bytes, which lets imaging compare whole pixels as uint32 without another copy.
        return np.ndarray((shot.height, shot.width, 3), dtype=np.uint8, buffer=shot.bgra,
                          strides=(shot.width * 4, 4, 1))

    # --- clipboard -----------------------------------------------------------------------------------------
    def clipboard_text(self) -> str:
        import pyperclip

        try:
            return pyperclip.paste() or ""
        except pyperclip.PyperclipException as exc:
            raise DesktopError(f"cannot read the clipboard: {exc}") from exc

    def set_clipboard_text(self, text: str) -> None:
        import pyperclip

        try:
            pyperclip.copy(text)
        except pyperclip.PyperclipException as exc:
            raise DesktopError(f"cannot write the clipboard: {exc}") from exc

    def paste(self, text: str) -> str:
        """Put ``text`` on the clipboard and press the paste chord; returns what the clipboard held before.

        Typing key by key drops Chinese (no key produces 汉字 without an input method); pasting carries any
        text. The caller restores the old clipboard once the paste has landed (see the sender).
        """
        previous = self.clipboard_text()
        self.set_clipboard_text(text)
        # The target reads the clipboard when it handles the chord; give the clipboard owner a moment to be
        # in place first (xclip forks into the background to serve the selection).
        deadline = time.monotonic() + 1.0
        while self.clipboard_text() != text and time.monotonic() < deadline:
            time.sleep(0.01)
        self.press("ctrl+v")
        return previous

    def close(self) -> None:
        self._grabber.close()
