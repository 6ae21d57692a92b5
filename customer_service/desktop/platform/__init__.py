"""Windowing systems: one module each over :class:`~customer_service.desktop.platform.base.Desktop`."""

from __future__ import annotations

import sys

from .base import Desktop, DesktopError, Window


def open_desktop(display: str | None = None) -> Desktop:
    """The desktop of the system this process runs on (X11 on Linux, the Windows API on Windows)."""
    if sys.platform == "win32":
        from .windows import WindowsDesktop

        return WindowsDesktop()
    from .x11 import X11Desktop

    return X11Desktop(display)


__all__ = ["Desktop", "DesktopError", "Window", "open_desktop"]
