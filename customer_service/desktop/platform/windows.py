"""The Windows API through pywin32, kept thin: everything else is shared with the other systems.

Coordinates are physical pixels: the process declares itself DPI-aware before anything else, so window
rectangles, mss captures and clicks agree on a scaled display (125 %, 150 % are common on sellers' PCs).
"""

from __future__ import annotations

import contextlib
import ctypes

from ..geometry import Rect
from .base import Desktop, DesktopError, Window

VK = {"enter": 0x0D, "return": 0x0D, "ctrl": 0x11, "control": 0x11, "shift": 0x10, "alt": 0x12, "tab": 0x09,
      "escape": 0x1B, "backspace": 0x08}


def _dpi_aware() -> None:
    try:
        ctypes.windll.shcore.SetProcessDpiAwareness(2)  # per-monitor aware
    except (AttributeError, OSError):
        with contextlib.suppress(AttributeError, OSError):
            ctypes.windll.user32.SetProcessDPIAware()


class WindowsDesktop(Desktop):
    def __init__(self):
        _dpi_aware()
        try:
            import win32api
            import win32con
            import win32gui
        except ImportError as exc:
            raise DesktopError("pywin32 is not installed: pip install -r requirements/desktop.txt") from exc
        self.win32api, self.win32con, self.win32gui = win32api, win32con, win32gui
        super().__init__()

    def _client_rect(self, hwnd: int) -> Rect | None:
        gui = self.win32gui
        try:
            left, top, right, bottom = gui.GetClientRect(hwnd)
            x, y = gui.ClientToScreen(hwnd, (left, top))
        except gui.error:
            return None
        return Rect(x, y, right - left, bottom - top) if right > left and bottom > top else None

    def _visible(self, hwnd: int) -> bool:
        return bool(self.win32gui.IsWindowVisible(hwnd)) and not self.win32gui.IsIconic(hwnd)

    def find_window(self, title: str) -> Window | None:
        found: list[tuple[int, str]] = []

        def collect(hwnd, _):
            if self._visible(hwnd):
                name = self.win32gui.GetWindowText(hwnd)
                if title in name:
                    found.append((hwnd, name))
            return True

        self.win32gui.EnumWindows(collect, None)
        found.sort(key=lambda item: item[1] != title)  # an exact title first
        for hwnd, name in found:
            rect = self._client_rect(hwnd)
            if rect:
                return Window(hwnd, name, rect)
        return None

    def refresh(self, window: Window) -> Window | None:
        if not self.win32gui.IsWindow(window.handle) or not self._visible(window.handle):
            return None
        rect = self._client_rect(window.handle)
        return Window(window.handle, self.win32gui.GetWindowText(window.handle), rect) if rect else None

    def screen(self) -> Rect:
        metric = self.win32api.GetSystemMetrics
        con = self.win32con
        return Rect(metric(con.SM_XVIRTUALSCREEN), metric(con.SM_YVIRTUALSCREEN), metric(con.SM_CXVIRTUALSCREEN),
                    metric(con.SM_CYVIRTUALSCREEN))

    def activate(self, window: Window) -> None:
        gui, con = self.win32gui, self.win32con
        try:
            if gui.IsIconic(window.handle):
                gui.ShowWindow(window.handle, con.SW_RESTORE)
            # Windows lets a process take the foreground only right after input; an Alt tap counts as input.
            self.win32api.keybd_event(VK["alt"], 0, 0, 0)
            self.win32api.keybd_event(VK["alt"], 0, con.KEYEVENTF_KEYUP, 0)
            gui.SetForegroundWindow(window.handle)
        except gui.error as exc:
            raise DesktopError(f"cannot bring window {window.handle:#x} to front: {exc}") from exc

    def windows_above(self, window: Window) -> list[Window]:
        gui, con = self.win32gui, self.win32con
        above = []
        hwnd = gui.GetWindow(window.handle, con.GW_HWNDPREV)
        while hwnd:
            if self._visible(hwnd):
                left, top, right, bottom = gui.GetWindowRect(hwnd)
                rect = Rect(left, top, max(1, right - left), max(1, bottom - top))
                if rect.intersection(window.rect):
                    above.append(Window(hwnd, gui.GetWindowText(hwnd), rect))
            hwnd = gui.GetWindow(hwnd, con.GW_HWNDPREV)
        return above

    def click(self, x: int, y: int) -> None:
        api, con = self.win32api, self.win32con
        api.SetCursorPos((int(x), int(y)))
        api.mouse_event(con.MOUSEEVENTF_LEFTDOWN, 0, 0, 0, 0)
        api.mouse_event(con.MOUSEEVENTF_LEFTUP, 0, 0, 0, 0)

    def press(self, key: str) -> None:
        codes = []
        for part in key.lower().split("+"):
            if part in VK:
                codes.append(VK[part])
            elif len(part) == 1:
                codes.append(ord(part.upper()))
            else:
                raise DesktopError(f"no key for {part!r}")
        for code in codes:
            self.win32api.keybd_event(code, 0, 0, 0)
        for code in reversed(codes):
            self.win32api.keybd_event(code, 0, self.win32con.KEYEVENTF_KEYUP, 0)
