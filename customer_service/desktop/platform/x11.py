"""X11 through python-xlib: titles from ``_NET_WM_NAME`` (UTF-8), input through the XTest extension.

``xdotool search --name`` compares against ``WM_NAME`` in the locale's encoding and misses UTF-8 titles such
as Tk's Chinese ones; reading ``_NET_WM_NAME`` ourselves does not. XTest input is what a keyboard and mouse
produce: the target cannot tell it from a person.
"""

from __future__ import annotations

import os

from Xlib import XK, X, display, error
from Xlib.ext import xtest
from Xlib.protocol import event

from ..geometry import Rect
from .base import Desktop, DesktopError, Window

KEY_NAMES = {"enter": "Return", "return": "Return", "ctrl": "Control_L", "control": "Control_L",
             "shift": "Shift_L", "alt": "Alt_L", "tab": "Tab", "escape": "Escape", "backspace": "BackSpace"}


class X11Desktop(Desktop):
    def __init__(self, display_name: str | None = None):
        name = display_name or os.environ.get("DISPLAY")
        if not name:
            raise DesktopError("no X display: DISPLAY is not set")
        try:
            self.display = display.Display(name)
        except (error.DisplayError, error.ConnectionClosedError, OSError) as exc:
            raise DesktopError(f"cannot open X display {name}: {exc}") from exc
        if not self.display.has_extension("XTEST"):
            raise DesktopError(f"X display {name} has no XTEST extension: kefu cannot click or type there")
        self.root = self.display.screen().root
        self._atoms = {n: self.display.intern_atom(n) for n in ("_NET_WM_NAME", "UTF8_STRING", "_NET_ACTIVE_WINDOW")}
        super().__init__({"display": name})

    # --- windows -------------------------------------------------------------------------------------------
    def _title(self, win) -> str | None:
        try:
            prop = win.get_full_property(self._atoms["_NET_WM_NAME"], self._atoms["UTF8_STRING"])
            if prop and prop.value:
                value = prop.value
                return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            name = win.get_wm_name()
            return name.decode("utf-8", "replace") if isinstance(name, bytes) else name
        except error.XError:
            return None

    def _viewable(self, win) -> bool:
        try:
            return win.get_attributes().map_state == X.IsViewable
        except error.XError:
            return False

    def _rect(self, win) -> Rect | None:
        try:
            geometry = win.get_geometry()
            origin = self.root.translate_coords(win, 0, 0)
        except error.XError:
            return None
        return Rect(origin.x, origin.y, geometry.width, geometry.height)

    def _titled_windows(self):
        """(window, title) for every viewable window with a title, top-level frames and their clients."""
        stack = [(self.root, 0)]
        while stack:
            win, depth = stack.pop()
            try:
                children = win.query_tree().children
            except error.XError:
                continue
            for child in children:
                if not self._viewable(child):
                    continue
                title = self._title(child)
                if title:
                    yield child, title
                elif depth < 3:  # window managers put clients inside a frame or two
                    stack.append((child, depth + 1))

    def find_window(self, title: str) -> Window | None:
        exact, partial = None, None
        for win, name in self._titled_windows():
            if name == title and exact is None:
                exact = (win, name)
            elif title in name and partial is None:
                partial = (win, name)
        found = exact or partial
        if found is None:
            return None
        rect = self._rect(found[0])
        return Window(found[0].id, found[1], rect) if rect else None

    def refresh(self, window: Window) -> Window | None:
        win = self.display.create_resource_object("window", window.handle)
        if not self._viewable(win):
            return None
        rect, title = self._rect(win), self._title(win)
        if rect is None or title is None:
            return None
        return Window(window.handle, title, rect)

    def screen(self) -> Rect:
        geometry = self.root.get_geometry()
        return Rect(0, 0, geometry.width, geometry.height)

    def _top_level(self, handle: int):
        """The child of the root that holds ``handle`` (the window itself, or its manager's frame)."""
        win = self.display.create_resource_object("window", handle)
        while True:
            tree = win.query_tree()
            if tree.parent == 0 or tree.parent.id == self.root.id:
                return win
            win = tree.parent

    def activate(self, window: Window) -> None:
        try:
            top = self._top_level(window.handle)
            top.configure(stack_mode=X.Above)
            client = self.display.create_resource_object("window", window.handle)
            # A window manager decides focus itself; ask it the EWMH way, and set it directly for servers
            # without one (Xvfb).
            message = event.ClientMessage(window=client, client_type=self._atoms["_NET_ACTIVE_WINDOW"],
                                          data=(32, [1, X.CurrentTime, 0, 0, 0]))
            self.root.send_event(message, event_mask=X.SubstructureRedirectMask | X.SubstructureNotifyMask)
            client.set_input_focus(X.RevertToParent, X.CurrentTime)
            self.display.sync()
        except error.XError as exc:
            raise DesktopError(f"cannot bring window {window.handle:#x} to front: {exc}") from exc

    def windows_above(self, window: Window) -> list[Window]:
        try:
            top = self._top_level(window.handle)
            children = self.root.query_tree().children  # bottom to top
        except error.XError:
            return []
        ids = [child.id for child in children]
        if top.id not in ids:
            return []
        above = []
        for child in children[ids.index(top.id) + 1:]:
            if not self._viewable(child):
                continue
            rect = self._rect(child)
            if rect and rect.intersection(window.rect):
                above.append(Window(child.id, self._title(child) or "", rect))
        return above

    # --- input ---------------------------------------------------------------------------------------------
    def click(self, x: int, y: int) -> None:
        xtest.fake_input(self.display, X.MotionNotify, x=int(x), y=int(y))
        xtest.fake_input(self.display, X.ButtonPress, 1)
        xtest.fake_input(self.display, X.ButtonRelease, 1)
        self.display.sync()

    def _keycode(self, name: str) -> int:
        keysym = XK.string_to_keysym(KEY_NAMES.get(name.lower(), name))
        code = self.display.keysym_to_keycode(keysym) if keysym else 0
        if not code:
            raise DesktopError(f"no key for {name!r} on this keyboard map")
        return code

    def press(self, key: str) -> None:
        codes = [self._keycode(part) for part in key.split("+")]
        for code in codes:
            xtest.fake_input(self.display, X.KeyPress, code)
        for code in reversed(codes):
            xtest.fake_input(self.display, X.KeyRelease, code)
        self.display.sync()

    def close(self) -> None:
        super().close()
        self.display.close()
