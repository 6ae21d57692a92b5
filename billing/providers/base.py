"""The small base every provider client implements, and the shared error classification."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field

import httpx2

from .. import egress
from ..choices import ErrorCode
from ..exceptions import ProviderError
from ..validators import HEADER_VALUE, bad_header

# Bodies that mean "the account is out of money or quota", whatever the HTTP status:
# OpenAI insufficient_quota (429), DeepSeek "Insufficient Balance" (402), DashScope
# Arrearage (400), Moonshot exceeded_current_quota_error (429), Volcengine Ark
# AccountOverdueError (403), Anthropic "credit balance is too low" (400), OpenRouter 402.
QUOTA_MARKERS = (
    "insufficient_quota",
    "exceeded_current_quota",
    "arrearage",
    "accountoverdue",
    "insufficient balance",
    "insufficient_balance",
    "credit balance is too low",
    "billing_hard_limit",
    "payment required",
    "余额不足",
    "欠费",
)


MAX_CACHED_CLIENTS = 256


@dataclass
class ChatResult:
    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    model: str = ""
    raw_usage: dict = field(default_factory=dict)


@dataclass
class EmbedResult:
    vectors: list[list[float]]
    input_tokens: int = 0
    model: str = ""


def classify_status(status: int | None, body: object) -> str:
    """ErrorCode for an HTTP error answer: quota exhaustion is recognised from the body, then the status."""
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, default=str)
    lowered = (text or "").lower()
    if status == 402 or any(marker in lowered for marker in QUOTA_MARKERS):
        return ErrorCode.QUOTA_EXHAUSTED
    if status == 429:
        return ErrorCode.RATE_LIMITED
    if status in (401, 403):
        return ErrorCode.AUTHENTICATION
    if status is not None and status >= 500:
        return ErrorCode.SERVER_ERROR
    if status is not None and 400 <= status < 500:
        return ErrorCode.BAD_REQUEST
    return ErrorCode.ERROR


# Fixed texts: the exceptions behind them quote the header ("Illegal header value b'<secret>'").
BAD_KEY_TEXT = "the API key holds characters HTTP headers cannot carry (line break, control or non-ASCII); set it again"
BAD_HEADER_TEXT = ("extra header %s holds characters HTTP headers cannot carry (line break, control or non-ASCII); "
                   "fix the config")
UNSENDABLE_TEXT = ("the request could not be built: the API key or an extra header holds characters HTTP headers "
                   "cannot carry")


def local_error(exc: BaseException) -> ProviderError | None:
    """A ProviderError (``bad_config``, fixed text) when ``exc`` says the request could not be built here,
    e.g. httpx refusing a header value; None for everything else. Never carries the exception's text."""
    causes = [exc, exc.__cause__, exc.__context__]
    if any(isinstance(c, httpx2.LocalProtocolError | UnicodeEncodeError) for c in causes):
        return ProviderError(ErrorCode.BAD_CONFIG, UNSENDABLE_TEXT)
    return None


def check_sendable(config) -> None:
    """Raise ProviderError (``bad_config``) when the config's key or extra headers cannot travel in HTTP
    headers (rows saved before ModelConfig.clean refused them). The text names the header, not its value."""
    if not HEADER_VALUE.match(config.api_key):
        raise ProviderError(ErrorCode.BAD_CONFIG, BAD_KEY_TEXT)
    name = bad_header(config.extra_headers)
    if name is not None:
        raise ProviderError(ErrorCode.BAD_CONFIG, BAD_HEADER_TEXT % name)


class ProviderClient:
    """One configured endpoint. Subclasses implement :meth:`chat` and :meth:`embed` with an official SDK.

    Clients are cached per config fingerprint so the SDK's HTTP connection pool is reused across calls.
    """

    _cache: dict[tuple, ProviderClient] = {}
    _lock = threading.Lock()

    def __init__(self, *, api_key: str, base_url: str, timeout: float, max_retries: int, headers: dict | None,
                 http_client=None):
        self.api_key = api_key
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self.headers = headers or {}
        self.http_client = http_client  # billing.egress's checked client for a limited config, else the SDK's

    @classmethod
    def for_config(cls, config) -> ProviderClient:
        if not config.api_key:
            raise ProviderError(ErrorCode.NO_KEY, "the config has no API key")
        check_sendable(config)
        headers = config.extra_headers or {}
        limited = egress.needs_check(config)
        fingerprint = (
            cls.__name__,
            config.pk,
            hashlib.sha256(config.api_key.encode()).hexdigest(),
            config.effective_base_url,
            float(config.timeout_seconds),
            int(config.max_retries),
            json.dumps(headers, sort_keys=True),
            # A limited config's client knows the allowed hosts: a changed list makes a new client.
            tuple(sorted(egress.allowed_hosts())) if limited else None,
        )
        client = cls._cache.get(fingerprint)
        if client is None:
            with cls._lock:
                client = cls._cache.get(fingerprint)
                if client is None:
                    if len(cls._cache) >= MAX_CACHED_CLIENTS:
                        cls._cache.clear()  # configs edited many times: start over rather than grow
                    client = cls(
                        api_key=config.api_key,
                        base_url=config.effective_base_url,
                        timeout=float(config.timeout_seconds),
                        max_retries=int(config.max_retries),
                        headers=headers,
                        http_client=egress.http_client_for(config, timeout=float(config.timeout_seconds)),
                    )
                    cls._cache[fingerprint] = client
        return client

    def chat(
        self, messages: list[dict], *, model: str, max_tokens: int | None, temperature: float | None
    ) -> ChatResult:
        raise NotImplementedError

    def embed(self, texts: list[str], *, model: str) -> EmbedResult:
        raise ProviderError(ErrorCode.BAD_REQUEST, f"{type(self).__name__} has no embeddings endpoint")
