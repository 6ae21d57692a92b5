"""A real HTTP server on 127.0.0.1 that speaks OpenAI chat completions + embeddings and Anthropic messages.

Each model name gets a behaviour, so several configs pointed at one server can behave
differently in one test:

    server.behave("gpt-a", "500")                     # every call answers HTTP 500
    server.behave("gpt-a", ["500", "ok"])             # first call 500, then normal
    server.behave("gpt-a", "slow", delay=1.0)         # answers after a second

Behaviours: ok, slow, 500, 429, 529, 401 (these four quote the key they were sent, as some
providers and proxies do), quota_openai, quota_deepseek, quota_dashscope, quota_moonshot,
quota_anthropic, malformed, drop (closes the connection unanswered).
Like a provider, an answer never has more completion tokens than the request's max_tokens.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

QUOTA_BODIES = {
    # OpenAI: HTTP 429 with code insufficient_quota
    "quota_openai": (429, {"error": {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}}),
    # DeepSeek: HTTP 402
    "quota_deepseek": (402, {"error": {"message": "Insufficient Balance", "type": "unknown_error", "param": None,
                                       "code": "invalid_request_error"}}),
    # DashScope compatible mode: HTTP 400 Arrearage
    "quota_dashscope": (400, {"error": {
        "code": "Arrearage", "param": None, "type": "Arrearage",
        "message": "Access denied, please make sure your account is in good standing."},
        "request_id": "b5b1d1c2-0000-0000-0000-000000000000"}),
    # Moonshot: HTTP 429 exceeded_current_quota_error
    "quota_moonshot": (429, {"error": {
        "message": "Your account org-xxx <ak-xxx> is suspended, please check your plan and billing details",
        "type": "exceeded_current_quota_error"}}),
    # Anthropic: HTTP 400 credit balance too low
    "quota_anthropic": (400, {"type": "error", "error": {
        "type": "invalid_request_error",
        "message": "Your credit balance is too low to access the Anthropic API. "
                   "Please go to Plans & Billing to upgrade or purchase credits."}}),
}


class _QuietServer(ThreadingHTTPServer):
    def get_request(self):
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr

    def handle_error(self, request, client_address):
        pass  # a client that timed out and hung up (the "slow" behaviour) is expected


class FakeLLMServer:
    def __init__(self):
        self.behaviours: dict[str, list] = {}
        self.defaults: dict[str, tuple[str, dict]] = {}
        self.calls: dict[str, int] = defaultdict(int)
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.httpd = _QuietServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # control ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeLLMServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset(self) -> None:
        with self.lock:
            self.behaviours.clear()
            self.defaults.clear()
            self.calls.clear()
            self.requests.clear()

    def behave(self, model: str, behaviour, **options) -> None:
        """Set ``model``'s behaviour: one name for every call, or a list played in order then "ok"."""
        with self.lock:
            if isinstance(behaviour, list | tuple):
                self.behaviours[model] = [(b, options) for b in behaviour]
                self.defaults[model] = ("ok", options)
            else:
                self.behaviours.pop(model, None)
                self.defaults[model] = (behaviour, options)

    def _next(self, model: str) -> tuple[str, dict]:
        with self.lock:
            self.calls[model] += 1
            queue = self.behaviours.get(model)
            if queue:
                return queue.pop(0)
            return self.defaults.get(model, ("ok", {}))

    # protocol --------------------------------------------------------------------------
    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status: int, body, content_type="application/json"):
                # Headers and body leave in one write: two small writes would meet Nagle + delayed ACK
                # and add ~40 ms to every answer, which would swamp what the benchmark measures.
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(raw)))
                self._headers_buffer.append(b"\r\n" + raw)
                self.flush_headers()

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    return self._send(400, {"error": {"message": "bad json"}})
                model = body.get("model", "")
                with server.lock:
                    server.requests.append({"path": self.path, "model": model, "body": body,
                                            "headers": dict(self.headers)})
                behaviour, options = server._next(model)
                anthropic = self.path.endswith("/messages") and "/chat/" not in self.path
                if behaviour == "slow":
                    time.sleep(options.get("delay", 2.0))
                    behaviour = "ok"
                if behaviour == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return None
                if behaviour == "malformed":
                    return self._send(200, b'{"id": "x", "choices": [ {"message": ', "application/json")
                if behaviour in QUOTA_BODIES:
                    status, payload = QUOTA_BODIES[behaviour]
                    return self._send(status, payload)
                if behaviour in {"500", "429", "529", "401"}:
                    status = int(behaviour)
                    # Some providers and proxies quote the key they were sent: error texts must not keep it.
                    key = self.headers.get("x-api-key") or self.headers.get("Authorization", "")
                    if anthropic:
                        kind = {500: "api_error", 429: "rate_limit_error", 529: "overloaded_error",
                                401: "authentication_error"}[status]
                        return self._send(status, {"type": "error", "error": {"type": kind,
                                                                              "message": f"{kind} for key {key}"}})
                    return self._send(status, {"error": {"message": f"fake {status} for key {key}", "type":
                                                         "server_error" if status >= 500 else "requests",
                                                         "code": None}})
                prompt = options.get("prompt_tokens", 12)
                completion = options.get("completion_tokens", 5)
                if body.get("max_tokens"):  # providers stop at the cap the request sets
                    completion = min(completion, int(body["max_tokens"]))
                text = options.get("text", "亲，您好！已为您查询。")
                if self.path.endswith("/embeddings"):
                    inputs = body.get("input")
                    inputs = [inputs] if isinstance(inputs, str) else inputs
                    dim = options.get("dim", 4)
                    data = []
                    for index, item in enumerate(inputs):
                        vector = [float(len(item)), float(index), 0.5, 0.25][:dim]
                        if body.get("encoding_format") == "base64":
                            vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
                        data.append({"object": "embedding", "index": index, "embedding": vector})
                    return self._send(200, {"object": "list", "data": data, "model": model,
                                            "usage": {"prompt_tokens": prompt, "total_tokens": prompt}})
                if anthropic:
                    return self._send(200, {
                        "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                        "stop_sequence": None, "usage": {"input_tokens": prompt, "output_tokens": completion}})
                return self._send(200, {
                    "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                              "total_tokens": prompt + completion}})

        return Handler
