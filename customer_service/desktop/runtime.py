"""What a desktop worker process keeps between tasks: the screen, the OCR models, the one sender, and a
poller per shop (its last frame and drift counters).

The desktop worker runs ``celery -A kefu worker -Q desktop -P solo``: one process, one task at a time, so
this state is used by one task at a time; the sender's file lock still keeps a second worker process on the
same PC (or a calibration) from typing at the same time.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from .ocr import OcrEngine
from .platform import Desktop, open_desktop
from .poller import Poller
from .sender import Sender


@dataclass
class ShopPoller:
    settings: object  # the DesktopSettings it was built from
    poller: Poller
    pause_id: int | None = None  # the open pause this poller saw last


def lock_path() -> Path:
    configured = getattr(settings, "KEFU_DESKTOP_LOCK_PATH", "")
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "kefu-desktop-send.lock"


class DesktopRuntime:
    """One per process (:func:`desktop_runtime`); built on first use, so a worker without a screen fails
    only when a desktop task runs, with the reason."""

    def __init__(self, desktop: Desktop | None = None, ocr: OcrEngine | None = None):
        self.desktop = desktop or open_desktop(os.environ.get("DISPLAY"))
        self.ocr = ocr or OcrEngine()
        self.sender = Sender(self.desktop, self.ocr, lock_path=lock_path())
        self.pollers: dict[int, ShopPoller] = {}
        self.name = f"desktop:{socket.gethostname()}:{os.getpid()}"[:128]

    def poller_for(self, shop, desktop_settings, store) -> ShopPoller:
        """The shop's poller, rebuilt when its settings changed (new regions, thresholds)."""
        current = self.pollers.get(shop.pk)
        if current is None or current.settings != desktop_settings:
            poller = Poller(self.desktop, self.ocr, store, desktop_settings.poll_settings(),
                            drift=desktop_settings.drift_monitor(), lock=self.sender.lock,
                            recent_outgoing=lambda conversation: ())
            current = self.pollers[shop.pk] = ShopPoller(desktop_settings, poller)
        current.poller.store = store
        return current

    def close(self) -> None:
        self.desktop.close()


_runtime: DesktopRuntime | None = None
_runtime_lock = threading.Lock()


def desktop_runtime() -> DesktopRuntime:
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = DesktopRuntime()
        return _runtime


def desktop_runtime_install(runtime: DesktopRuntime | None) -> DesktopRuntime | None:
    """Use ``runtime`` in this process (a test's screen and OCR, or None to build a fresh one next time);
    returns the one it replaces."""
    global _runtime
    with _runtime_lock:
        previous, _runtime = _runtime, runtime
        return previous
