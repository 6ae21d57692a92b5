"""A virtual screen (Xvfb) and the fake Qianniu window on it, for the desktop tests and bench/desktop.py."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from customer_service.desktop.geometry import Regions

FAKE_QIANNIU = Path(__file__).with_name("fake_qianniu.py")
SCREEN = (1280, 800)
# The buyer's question and the shop's knowledge answer in the tests that go through the reply pipeline.
QUESTION = "发什么快递？"
ANSWER = "亲，默认发中通快递，江浙沪次日达哦～"

# A second look: list on the right, bigger type, other colours, another badge red, captions time first,
# narrower bubbles. kefu sees it only through its regions.
ALT_LAYOUT = {
    "title": "接待中心(测试二号店)",
    "x": 120, "y": 60, "width": 960, "height": 660,
    "font_size": 13, "list_side": "right", "list_width": 260, "list_row_height": 64,
    "header_height": 56, "input_height": 120, "button_width": 96, "button_height": 36,
    "background": "#eef1f6", "list_background": "#fafafa", "list_active": "#fff3e0", "header_background": "#fafafa",
    "transcript_background": "#ffffff", "buyer_bubble": "#f0f0f0", "seller_bubble": "#d8f5d0",
    "text_colour": "#000000", "caption_colour": "#666666", "badge_colour": "#e02020", "button_colour": "#ff6a00",
    "bubble_max_fraction": 0.5, "bubble_padding": 10, "message_gap": 18, "margin": 20,
    "caption": "{time} {nick}", "seller_nick": "二号店客服",
}


class Xvfb:
    """An X server on a free display number, for as long as this object lives."""

    def __init__(self, size: tuple[int, int] = SCREEN):
        binary = shutil.which("Xvfb")
        if not binary:
            raise RuntimeError("Xvfb not found (apt-get install xvfb)")
        read_fd, write_fd = os.pipe()
        self.process = subprocess.Popen(
            [binary, "-displayfd", str(write_fd), "-screen", "0", f"{size[0]}x{size[1]}x24", "-nolisten", "tcp",
             "-noreset"], pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(write_fd)
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            self.process.kill()
            raise RuntimeError("Xvfb did not start")
        self.display = f":{number}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


class FakeWindow:
    """The fake Qianniu window in its own process, driven over its control channel."""

    def __init__(self, display: str, layout: dict | None = None):
        self.layout = layout or {}
        self.dir = Path(tempfile.mkdtemp(prefix="kefu-fake-qianniu-"))
        port_file, self.log = self.dir / "port", self.dir / "received.jsonl"
        env = {**os.environ, "DISPLAY": display}
        self.process = subprocess.Popen(
            [sys.executable, str(FAKE_QIANNIU), "--port-file", str(port_file), "--layout", json.dumps(self.layout),
             "--log", str(self.log)], env=env, stdout=subprocess.DEVNULL, stderr=open(self.dir / "stderr", "w"))  # noqa: SIM115
        deadline = time.monotonic() + 30
        while not port_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the fake Qianniu window did not start: {(self.dir / 'stderr').read_text()}")
            time.sleep(0.05)
        self.socket = socket.create_connection(("127.0.0.1", int(port_file.read_text())), timeout=15)
        self.channel = self.socket.makefile("rw", encoding="utf-8")
        answer = self.command("regions")
        self.title, self.regions = answer["title"], Regions.from_mapping(answer["regions"])
        self.size = tuple(answer["size"])

    def command(self, cmd: str, **fields) -> dict:
        self.channel.write(json.dumps({"cmd": cmd, **fields}, ensure_ascii=False) + "\n")
        self.channel.flush()
        answer = json.loads(self.channel.readline())
        if not answer.get("ok"):
            raise RuntimeError(f"fake Qianniu refused {cmd}: {answer.get('error')}")
        return answer

    def buyer(self, nick: str, text: str, time: str | None = None) -> None:
        self.command("buyer", nick=nick, text=text, **({"time": time} if time else {}))

    def seller(self, nick: str, text: str, time: str | None = None) -> None:
        self.command("seller", nick=nick, text=text, **({"time": time} if time else {}))

    def state(self) -> dict:
        return self.command("state")

    def received(self) -> list[str]:
        return [record["text"] for record in self.state()["received"]]

    def stop(self) -> None:
        if getattr(self, "socket", None):
            self.socket.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
