"""Anthropic's messages API through the official ``anthropic`` SDK."""

from __future__ import annotations

import anthropic

from .. import conf
from ..choices import ErrorCode
from ..exceptions import ProviderError
from .base import ChatResult, ProviderClient, classify_status, local_error


def _error_from(exc: Exception) -> ProviderError:
    local = local_error(exc)
    if local is not None:
        return local
    if isinstance(exc, anthropic.APITimeoutError):
        return ProviderError(ErrorCode.TIMEOUT, "the provider did not answer in time")
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderError(ErrorCode.CONNECTION, f"connection failed: {exc.__cause__ or exc}")
    if isinstance(exc, anthropic.APIStatusError):
        body = exc.body if exc.body is not None else exc.response.text
        status = exc.status_code
        code = ErrorCode.SERVER_ERROR if status == 529 else classify_status(status, body)  # 529: overloaded
        return ProviderError(code, f"HTTP {status}: {exc.message}", status=status)
    if isinstance(exc, anthropic.APIResponseValidationError | ValueError | TypeError | KeyError | AttributeError):
        return ProviderError(ErrorCode.BAD_RESPONSE, f"malformed answer: {type(exc).__name__}: {exc}")
    return ProviderError(ErrorCode.ERROR, f"{type(exc).__name__}: {exc}")


class AnthropicClient(ProviderClient):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sdk = anthropic.Anthropic(
            api_key=self.api_key,
            base_url=self.base_url or None,
            timeout=self.timeout,
            max_retries=self.max_retries,
            default_headers=self.headers or None,
            http_client=self.http_client,
        )

    def chat(self, messages, *, model, max_tokens, temperature) -> ChatResult:
        # Anthropic takes the system prompt apart from the turns.
        system = "\n\n".join(m["content"] for m in messages if m.get("role") == "system")
        turns = [{"role": m["role"], "content": m["content"]} for m in messages if m.get("role") != "system"]
        params = {"model": model, "messages": turns, "max_tokens": max_tokens or conf.default_max_tokens()}
        if system:
            params["system"] = system
        if temperature is not None:
            params["temperature"] = min(float(temperature), 1.0)
        try:
            response = self.sdk.messages.create(**params)
            text = "".join(block.text for block in response.content if getattr(block, "type", "") == "text")
            usage = response.usage
        except Exception as exc:
            raise _error_from(exc) from exc
        return ChatResult(
            text=text,
            input_tokens=int(getattr(usage, "input_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "output_tokens", 0) or 0),
            model=getattr(response, "model", "") or model,
        )
