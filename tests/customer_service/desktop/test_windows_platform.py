"""The Windows platform against a stand-in for the Windows API (the one thing that cannot run here)."""

import sys
import types

import pytest

from customer_service.desktop.geometry import Rect
from customer_service.desktop.platform import base


class FakeUser32:
    """Top-level windows in z-order (first is topmost), and what input was sent."""

    def __init__(self, windows):
        self.windows = windows  # hwnd → dict(title, rect (l, t, r, b), client (w, h), visible)
        self.order = list(windows)
        self.events = []
        self.foreground = None

    def modules(self):
        con = types.SimpleNamespace(GW_HWNDPREV=3, SW_RESTORE=9, KEYEVENTF_KEYUP=2, MOUSEEVENTF_LEFTDOWN=2,
                                    MOUSEEVENTF_LEFTUP=4, SM_XVIRTUALSCREEN=76, SM_YVIRTUALSCREEN=77,
                                    SM_CXVIRTUALSCREEN=78, SM_CYVIRTUALSCREEN=79)
        gui = types.SimpleNamespace(
            error=OSError,
            EnumWindows=lambda callback, extra: [callback(h, extra) for h in self.order],
            IsWindowVisible=lambda h: self.windows[h]["visible"],
            IsIconic=lambda h: False,
            IsWindow=lambda h: h in self.windows,
            GetWindowText=lambda h: self.windows[h]["title"],
            GetClientRect=lambda h: (0, 0, *self.windows[h]["client"]),
            ClientToScreen=lambda h, point: (self.windows[h]["rect"][0] + 8 + point[0],
                                             self.windows[h]["rect"][1] + 31 + point[1]),
            GetWindowRect=lambda h: self.windows[h]["rect"],
            GetWindow=lambda h, relation: self._previous(h),
            ShowWindow=lambda h, how: None,
            SetForegroundWindow=lambda h: setattr(self, "foreground", h),
        )
        api = types.SimpleNamespace(
            keybd_event=lambda vk, scan, flags, extra: self.events.append(("key", vk, flags)),
            SetCursorPos=lambda pos: self.events.append(("move", *pos)),
            mouse_event=lambda flags, x, y, data, extra: self.events.append(("mouse", flags)),
            GetSystemMetrics=lambda index: {76: 0, 77: 0, 78: 1920, 79: 1080}[index],
        )
        return {"win32gui": gui, "win32api": api, "win32con": con}

    def _previous(self, hwnd):
        index = self.order.index(hwnd)
        return self.order[index - 1] if index > 0 else 0


@pytest.fixture
def windows_api(monkeypatch):
    def install(windows):
        fake = FakeUser32(windows)
        for name, module in fake.modules().items():
            monkeypatch.setitem(sys.modules, name, module)
        monkeypatch.setattr(base.Desktop, "__init__", lambda self, mss_options=None: None)  # capture needs a screen
        from customer_service.desktop.platform.windows import WindowsDesktop

        return fake, WindowsDesktop()

    return install


WINDOWS = {
    11: {"title": "提示", "rect": (300, 300, 600, 500), "client": (284, 161), "visible": True},
    22: {"title": "千牛接待中心 - 测试店铺(旧)", "rect": (0, 0, 400, 300), "client": (384, 261), "visible": True},
    33: {"title": "千牛接待中心 - 测试店铺", "rect": (100, 100, 1016, 751), "client": (900, 620), "visible": True},
    44: {"title": "千牛接待中心 - 测试店铺", "rect": (0, 0, 10, 10), "client": (900, 620), "visible": False},
}


def test_find_window_prefers_the_exact_visible_title_and_gives_the_client_area_on_screen(windows_api):
    _, desktop = windows_api(WINDOWS)

    found = desktop.find_window("千牛接待中心 - 测试店铺")

    assert (found.handle, found.rect) == (33, Rect(108, 131, 900, 620))
    assert desktop.find_window("千牛接待中心").handle in (22, 33)
    assert desktop.find_window("没有") is None


def test_windows_above_are_the_visible_overlapping_ones_higher_in_z_order(windows_api):
    _, desktop = windows_api(WINDOWS)

    above = desktop.windows_above(desktop.find_window("千牛接待中心 - 测试店铺"))

    assert [w.title for w in above] == ["千牛接待中心 - 测试店铺(旧)", "提示"]


def test_a_paste_chord_holds_control_around_v_and_a_click_moves_then_presses(windows_api):
    fake, desktop = windows_api(WINDOWS)

    desktop.press("ctrl+v")
    desktop.click(120, 240)

    assert fake.events == [("key", 0x11, 0), ("key", ord("V"), 0), ("key", ord("V"), 2), ("key", 0x11, 2),
                           ("move", 120, 240), ("mouse", 2), ("mouse", 4)]
    assert desktop.screen() == Rect(0, 0, 1920, 1080)
