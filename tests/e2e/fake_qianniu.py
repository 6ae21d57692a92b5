"""A stand-in for the Qianniu (千牛) reception window, for the desktop tests and the bench.

It looks like the real one where kefu looks: a conversation list (newest activity on top) with red unread
badges, a chat header with the buyer's nick, a transcript with buyer bubbles on the left and seller bubbles on
the right, each under a caption "nick time", an input box and a send button. Enter or the button sends what
the input box holds. Every size, colour, font and position comes from a layout (``--layout JSON``), so the
same tests run against windows that look different and are described to kefu only through regions.

A control channel on 127.0.0.1 (one JSON object per line, one answer per line) drives it:

    {"cmd": "buyer", "nick": "…", "text": "…"}    a buyer line (a badge when not the open conversation)
    {"cmd": "seller", "nick": "…", "text": "…"}   a seller line typed elsewhere (by hand)
    {"cmd": "open", "nick": "…"}                  switch conversation (clears its badge)
    {"cmd": "move", "x": 10, "y": 20}             move the window
    {"cmd": "cover"} / {"cmd": "uncover"}         a dialog over the window, or gone again
    {"cmd": "close"} / {"cmd": "show"}            the window disappears (withdrawn), or comes back
    {"cmd": "swallow", "count": 1}                the next sends clear the input box but show no bubble
    {"cmd": "scroll", "fraction": 0.0}            scroll the transcript (0 top, 1 bottom)
    {"cmd": "reset"}                              back to an empty window where it started
    {"cmd": "state"}                              what it received, the conversations, the open one
    {"cmd": "regions"}                            where its parts are, relative to the window

Every send is also appended to ``--log`` (JSON Lines). Run: python fake_qianniu.py --port-file F [--layout J]
"""

from __future__ import annotations

import argparse
import json
import queue
import socketserver
import threading
import time
import tkinter as tk
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_LAYOUT = {
    "title": "千牛接待中心 - 测试店铺",
    "x": 40, "y": 30, "width": 900, "height": 620,
    "font_family": "WenQuanYi Micro Hei", "font_size": 11,
    "list_side": "left", "list_width": 220, "list_row_height": 56,
    "header_height": 44, "input_height": 96, "button_width": 80, "button_height": 32,
    "background": "#f5f6f8", "list_background": "#ffffff", "list_active": "#e6f0ff", "header_background": "#ffffff",
    "transcript_background": "#f5f6f8", "buyer_bubble": "#ffffff", "seller_bubble": "#cfe4ff",
    "text_colour": "#222222", "caption_colour": "#8a8f99", "badge_colour": "#ff3b30", "badge_text": "#ffffff",
    "button_colour": "#1677ff", "button_text": "#ffffff",
    "bubble_max_fraction": 0.6, "bubble_padding": 8, "message_gap": 14, "margin": 16,
    "caption": "{nick}  {time}", "time_format": "%H:%M:%S", "seller_nick": "测试店铺:小蜜",
}


@dataclass
class Line:
    speaker: str  # "buyer" | "seller"
    nick: str
    text: str
    time: str


@dataclass
class Conversation:
    nick: str
    lines: list[Line] = field(default_factory=list)
    unread: int = 0
    last_activity: float = 0.0


class FakeQianniu:
    def __init__(self, layout: dict, log_path: Path | None):
        self.layout = {**DEFAULT_LAYOUT, **layout}
        self.log_path = log_path
        self.commands: queue.Queue = queue.Queue()
        self.conversations: dict[str, Conversation] = {}
        self.active: str | None = None
        self.received: list[dict] = []
        self.swallow = 0
        self.cover: tk.Toplevel | None = None
        self.clock = 0.0
        self._build()

    # --- widgets -------------------------------------------------------------------------------------------
    def _build(self) -> None:
        lay = self.layout
        self.root = tk.Tk()
        self.root.title(lay["title"])
        self.root.geometry(f"{lay['width']}x{lay['height']}+{lay['x']}+{lay['y']}")
        self.root.configure(background=lay["background"])
        self.root.resizable(False, False)
        self.font = (lay["font_family"], lay["font_size"])
        self.small_font = (lay["font_family"], max(8, lay["font_size"] - 2))
        width, height = lay["width"], lay["height"]
        list_x = 0 if lay["list_side"] == "left" else width - lay["list_width"]
        chat_x = lay["list_width"] if lay["list_side"] == "left" else 0
        chat_w = width - lay["list_width"]
        self.list_canvas = tk.Canvas(self.root, background=lay["list_background"], highlightthickness=0)
        self.list_canvas.place(x=list_x, y=0, width=lay["list_width"], height=height)
        self.list_canvas.bind("<Button-1>", self._on_list_click)
        self.header = tk.Label(self.root, text="", anchor="w", padx=lay["margin"], font=(lay["font_family"],
                               lay["font_size"] + 2, "bold"), background=lay["header_background"],
                               foreground=lay["text_colour"])
        self.header.place(x=chat_x, y=0, width=chat_w, height=lay["header_height"])
        transcript_h = height - lay["header_height"] - lay["input_height"]
        self.transcript = tk.Canvas(self.root, background=lay["transcript_background"], highlightthickness=0)
        self.transcript.place(x=chat_x, y=lay["header_height"], width=chat_w, height=transcript_h)
        self.input = tk.Text(self.root, font=self.font, relief="flat", borderwidth=0, highlightthickness=1,
                             highlightbackground="#d9d9d9", wrap="char", undo=False)
        input_w = chat_w - lay["button_width"] - 3 * 8
        self.input.place(x=chat_x + 8, y=height - lay["input_height"] + 8, width=input_w,
                         height=lay["input_height"] - 16)
        self.input.bind("<Return>", self._on_enter)
        self.button = tk.Button(self.root, text="发送", font=self.font, background=lay["button_colour"],
                                foreground=lay["button_text"], activebackground=lay["button_colour"],
                                relief="flat", borderwidth=0, command=self._send)
        self.button.place(x=chat_x + chat_w - 8 - lay["button_width"],
                          y=height - 8 - lay["button_height"], width=lay["button_width"],
                          height=lay["button_height"])
        self.geometry = {
            "conversation_list": [list_x, 0, lay["list_width"], height],
            "chat_header": [chat_x, 0, chat_w, lay["header_height"]],
            "transcript": [chat_x, lay["header_height"], chat_w, transcript_h],
            "input_box": [chat_x + 8, height - lay["input_height"] + 8, input_w, lay["input_height"] - 16],
            "send_button": [chat_x + chat_w - 8 - lay["button_width"], height - 8 - lay["button_height"],
                            lay["button_width"], lay["button_height"]],
        }
        self.root.after(20, self._drain)

    def _now(self) -> str:
        return time.strftime(self.layout["time_format"])

    def _conversation(self, nick: str) -> Conversation:
        if nick not in self.conversations:
            self.conversations[nick] = Conversation(nick=nick)
        return self.conversations[nick]

    def _touch(self, conversation: Conversation) -> None:
        # A strictly increasing clock, so two lines within one wall-clock tick still order the list.
        self.clock = max(self.clock + 1e-6, time.time())
        conversation.last_activity = self.clock

    # --- drawing -------------------------------------------------------------------------------------------
    def _draw_list(self) -> None:
        lay, canvas = self.layout, self.list_canvas
        canvas.delete("all")
        rows = sorted(self.conversations.values(), key=lambda c: -c.last_activity)
        row_h = lay["list_row_height"]
        for index, conv in enumerate(rows):
            top = index * row_h
            if conv.nick == self.active:
                canvas.create_rectangle(0, top, lay["list_width"], top + row_h, fill=lay["list_active"], width=0)
            canvas.create_text(12, top + 8, text=conv.nick, anchor="nw", font=self.font, fill=lay["text_colour"])
            preview = conv.lines[-1].text[:10] if conv.lines else ""
            canvas.create_text(12, top + row_h // 2 + 4, text=preview, anchor="nw", font=self.small_font,
                               fill=lay["caption_colour"])
            if conv.unread:
                radius = 9
                cx, cy = lay["list_width"] - 22, top + row_h // 2
                canvas.create_oval(cx - radius, cy - radius, cx + radius, cy + radius, fill=lay["badge_colour"],
                                   width=0)
                canvas.create_text(cx, cy, text=str(min(conv.unread, 99)), font=self.small_font,
                                   fill=lay["badge_text"])
        self.list_rows = [c.nick for c in rows]

    def _draw_transcript(self, keep_fraction: float | None = None) -> None:
        lay, canvas = self.layout, self.transcript
        canvas.delete("all")
        conv = self.conversations.get(self.active) if self.active else None
        self.header.configure(text=conv.nick if conv else "")
        width = self.geometry["transcript"][2]
        margin, pad = lay["margin"], lay["bubble_padding"]
        max_text = int(width * lay["bubble_max_fraction"])
        y = margin
        for line in conv.lines if conv else []:
            caption = lay["caption"].format(nick=line.nick, time=line.time)
            left = line.speaker == "buyer"
            canvas.create_text(margin if left else width - margin, y, text=caption, anchor="nw" if left else "ne",
                               font=self.small_font, fill=lay["caption_colour"])
            y += lay["font_size"] + 10
            text = canvas.create_text(0, 0, text=line.text, anchor="nw", width=max_text, font=self.font,
                                      fill=lay["text_colour"])
            x0, y0, x1, y1 = canvas.bbox(text)
            text_w, text_h = x1 - x0, y1 - y0
            bubble_x = margin if left else width - margin - text_w - 2 * pad
            canvas.coords(text, bubble_x + pad, y + pad)
            bubble = canvas.create_rectangle(bubble_x, y, bubble_x + text_w + 2 * pad, y + text_h + 2 * pad,
                                             fill=lay["buyer_bubble"] if left else lay["seller_bubble"],
                                             outline="#e3e5e8" if left else lay["seller_bubble"])
            canvas.tag_lower(bubble, text)
            y += text_h + 2 * pad + lay["message_gap"]
        canvas.configure(scrollregion=(0, 0, width, max(y, self.geometry["transcript"][3])))
        canvas.yview_moveto(1.0 if keep_fraction is None else keep_fraction)

    # --- events --------------------------------------------------------------------------------------------
    def _on_list_click(self, event) -> None:
        row_h = self.layout["list_row_height"]
        index = event.y // row_h
        if 0 <= index < len(getattr(self, "list_rows", [])):
            self._open(self.list_rows[index])

    def _open(self, nick: str) -> None:
        conv = self._conversation(nick)
        conv.unread = 0
        self.active = nick
        self._draw_list()
        self._draw_transcript()

    def _on_enter(self, _event) -> str:
        self._send()
        return "break"  # Enter sends; it does not add a newline

    def _send(self) -> None:
        text = self.input.get("1.0", "end-1c")
        if not text.strip():
            return
        self.input.delete("1.0", "end")
        swallowed = self.swallow > 0
        record = {"text": text, "conversation": self.active, "at": time.time(), "swallowed": swallowed}
        self.received.append(record)
        if self.log_path:
            with self.log_path.open("a", encoding="utf-8") as log:
                log.write(json.dumps(record, ensure_ascii=False) + "\n")
        if swallowed:
            self.swallow -= 1
            return
        if self.active:
            self._add(self.active, Line("seller", self.layout["seller_nick"], text, self._now()))

    def _add(self, nick: str, line: Line) -> None:
        conv = self._conversation(nick)
        conv.lines.append(line)
        self._touch(conv)
        if self.active is None:
            self.active = nick
        elif nick != self.active and line.speaker == "buyer":
            conv.unread += 1
        self._draw_list()
        if nick == self.active:
            self._draw_transcript()

    # --- control channel -----------------------------------------------------------------------------------
    def _drain(self) -> None:
        while True:
            try:
                command, answer = self.commands.get_nowait()
            except queue.Empty:
                break
            try:
                answer.put(self._handle(command))
            except Exception as exc:  # the channel answers every command, even a bad one
                answer.put({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        self.root.after(20, self._drain)

    def _handle(self, command: dict) -> dict:
        kind = command.get("cmd")
        if kind in ("buyer", "seller"):
            nick = command["nick"]
            shown_nick = nick if kind == "buyer" else self.layout["seller_nick"]
            self._add(nick, Line(kind, shown_nick, command["text"], command.get("time") or self._now()))
        elif kind == "open":
            self._open(command["nick"])
        elif kind == "move":
            self.root.geometry(f"+{command['x']}+{command['y']}")
        elif kind == "cover":
            self._cover()
        elif kind == "uncover":
            if self.cover is not None:
                self.cover.destroy()
                self.cover = None
        elif kind == "close":
            self.root.withdraw()
        elif kind == "show":
            self.root.deiconify()
        elif kind == "swallow":
            self.swallow = int(command.get("count", 1))
        elif kind == "scroll":
            self.transcript.yview_moveto(float(command["fraction"]))
        elif kind == "reset":
            self.conversations.clear()
            self.active, self.received, self.swallow = None, [], 0
            self.input.delete("1.0", "end")
            self._handle({"cmd": "uncover"})
            self.root.deiconify()
            self.root.geometry(f"+{self.layout['x']}+{self.layout['y']}")
            self._draw_list()
            self._draw_transcript()
        elif kind == "state":
            return {"ok": True, "received": self.received, "active": self.active,
                    "conversations": {n: {"lines": [asdict(x) for x in c.lines], "unread": c.unread}
                                      for n, c in self.conversations.items()},
                    "list_order": getattr(self, "list_rows", []), "input": self.input.get("1.0", "end-1c")}
        elif kind == "regions":
            return {"ok": True, "regions": self.geometry, "title": self.layout["title"],
                    "size": [self.layout["width"], self.layout["height"]]}
        else:
            return {"ok": False, "error": f"unknown command {kind!r}"}
        self.root.update_idletasks()
        # A round trip to the X server: every drawing request is on the screen before the answer goes out.
        self.root.winfo_pointerxy()
        return {"ok": True}

    def _cover(self) -> None:
        if self.cover is not None:
            return
        lay = self.layout
        self.cover = tk.Toplevel(self.root)
        self.cover.title("提示")
        w, h = 360, 180
        x = self.root.winfo_rootx() + (lay["width"] - w) // 2
        y = self.root.winfo_rooty() + (lay["height"] - h) // 2
        self.cover.geometry(f"{w}x{h}+{x}+{y}")
        tk.Label(self.cover, text="网络连接已断开，请重新登录", font=self.font).pack(expand=True, fill="both")

    def serve(self, port_file: Path) -> None:
        app = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for raw in self.rfile:
                    if not raw.strip():
                        continue
                    answer: queue.Queue = queue.Queue()
                    try:
                        app.commands.put((json.loads(raw), answer))
                        reply = answer.get(timeout=10)
                    except (ValueError, queue.Empty) as exc:
                        reply = {"ok": False, "error": str(exc) or "timed out"}
                    self.wfile.write((json.dumps(reply, ensure_ascii=False) + "\n").encode())
                    self.wfile.flush()

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.root.update()
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(str(server.server_address[1]))
        tmp.replace(port_file)  # the test waits for this file: it appears once the window is up
        self.root.mainloop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--layout", default="{}", help="JSON object overriding DEFAULT_LAYOUT")
    parser.add_argument("--log", type=Path)
    args = parser.parse_args()
    FakeQianniu(json.loads(args.layout), args.log).serve(args.port_file)


if __name__ == "__main__":
    main()
