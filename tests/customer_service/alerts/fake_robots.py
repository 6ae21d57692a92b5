"""A real HTTP server on 127.0.0.1 that answers like the WeCom, DingTalk and Feishu group robots, and a real
SMTP server (Python's own ``smtpd``) that keeps the messages it receives.

The robot server checks what the real robots check and answers with their codes:

- ``/wecom/cgi-bin/webhook/send?key=<key>``: a known key, ``msgtype`` markdown or text;
  ``{"errcode": 0, "errmsg": "ok"}``, else ``93000`` (invalid key) / ``40008`` (invalid message type).
- ``/dingtalk/robot/send?access_token=<token>[&timestamp=<ms>&sign=<sign>]``: with a secret set for the
  token, the timestamp within an hour of now and the sign equal to base64(HMAC-SHA256(secret,
  "timestamp\\nsecret")); ``{"errcode": 0}``, else ``310000`` ("sign not match").
- ``/feishu/open-apis/bot/v2/hook/<token>``: with a secret set, ``timestamp`` (seconds) within an hour and
  ``sign`` equal to base64(HMAC-SHA256(key="timestamp\\nsecret", msg="")); ``{"code": 0}``, else ``19021``.

``server.script([500, 200])`` makes the next calls answer HTTP 500, then normally; ``"hang"`` holds the
call for ``hang_seconds`` before answering.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def _expected_dingtalk(secret: str, timestamp: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
                            .digest()).decode()


def _expected_feishu(secret: str, timestamp: str) -> str:
    return base64.b64encode(hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that gave up on a hanging call


class FakeRobots:
    def __init__(self):
        self.requests: list[dict] = []
        self.times: list[float] = []
        self.secrets: dict[str, str] = {}
        self.wecom_keys: set[str] = set()
        self.scripted: list = []
        self.hang_seconds = 30.0
        self.in_flight = 0
        self.lock = threading.Lock()
        self.httpd = _Server(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.httpd.server_address[1]}"

    def wecom_url(self, key: str) -> str:
        self.wecom_keys.add(key)
        return f"{self.base}/wecom/cgi-bin/webhook/send?key={key}"

    def dingtalk_url(self, token: str, secret: str = "") -> str:
        if secret:
            self.secrets[token] = secret
        return f"{self.base}/dingtalk/robot/send?access_token={token}"

    def feishu_url(self, token: str, secret: str = "") -> str:
        if secret:
            self.secrets[token] = secret
        return f"{self.base}/feishu/open-apis/bot/v2/hook/{token}"

    def script(self, steps: list) -> None:
        with self.lock:
            self.scripted = list(steps)

    def start(self) -> FakeRobots:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # answers ------------------------------------------------------------------------------
    def _answer(self, path: str, query: dict, body: dict) -> tuple[int, dict]:
        now = time.time()
        if path.startswith("/wecom/"):
            if query.get("key") not in self.wecom_keys:
                return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
            if body.get("msgtype") not in ("markdown", "text") or body.get("msgtype") not in body:
                return 200, {"errcode": 40008, "errmsg": "invalid message type"}
            return 200, {"errcode": 0, "errmsg": "ok"}
        if path.startswith("/dingtalk/"):
            secret = self.secrets.get(query.get("access_token", ""))
            if secret:
                timestamp, sign = query.get("timestamp", ""), query.get("sign", "")
                if not timestamp.isdigit() or abs(now * 1000 - int(timestamp)) > 3_600_000:
                    return 200, {"errcode": 310000, "errmsg": "invalid timestamp"}
                if sign != _expected_dingtalk(secret, timestamp):
                    return 200, {"errcode": 310000, "errmsg": "sign not match"}
            if body.get("msgtype") != "markdown" or not body.get("markdown", {}).get("title"):
                return 200, {"errcode": 40035, "errmsg": "missing parameter"}
            return 200, {"errcode": 0, "errmsg": "ok"}
        if path.startswith("/feishu/"):
            secret = self.secrets.get(path.rsplit("/", 1)[-1])
            if secret:
                timestamp, sign = str(body.get("timestamp", "")), body.get("sign", "")
                if not timestamp.isdigit() or abs(now - int(timestamp)) > 3600:
                    return 200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}
                if sign != _expected_feishu(secret, timestamp):
                    return 200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}
            if body.get("msg_type") != "text" or not body.get("content", {}).get("text"):
                return 200, {"code": 9499, "msg": "Bad Request"}
            return 200, {"code": 0, "msg": "success", "data": {}}
        return 404, {"error": "no such robot"}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                with server.lock:
                    server.times.append(time.monotonic())
                    server.requests.append({"path": parts.path, "query": query, "body": body,
                                            "content_type": self.headers.get("Content-Type", "")})
                    step = server.scripted.pop(0) if server.scripted else None
                if step == "hang":
                    with server.lock:
                        server.in_flight += 1
                    time.sleep(server.hang_seconds)
                    with server.lock:
                        server.in_flight -= 1
                    step = None
                if isinstance(step, int) and step != 200:
                    status, answer = step, {"error": f"scripted {step}"}
                else:
                    status, answer = server._answer(parts.path, query, body if isinstance(body, dict) else {})
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

        return Handler


class FakeSMTP:
    """Python's own SMTP server in a thread (``smtpd``, in the standard library up to 3.11)."""

    def __init__(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import asyncore
            import smtpd
        self.asyncore = asyncore
        self.messages: list[dict] = []
        outer = self

        class Server(smtpd.SMTPServer):
            def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
                outer.messages.append({"from": mailfrom, "to": rcpttos, "data": data})

        self.server = Server(("127.0.0.1", 0), None, decode_data=False)
        self.port = self.server.socket.getsockname()[1]
        # asyncore.loop returns once its socket map is empty, that is after stop().
        self.thread = threading.Thread(target=lambda: asyncore.loop(timeout=0.05), daemon=True)

    def start(self) -> FakeSMTP:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.close()
