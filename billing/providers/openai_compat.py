"""OpenAI-compatible chat completions and embeddings through the official ``openai`` SDK.

Covers OpenAI, DeepSeek, Moonshot, DashScope compatible mode, Doubao/Ark, OpenRouter,
Gemini's OpenAI endpoint, Ernie/Qianfan v2 and any custom base URL.
"""

from __future__ import annotations

import openai

from .. import conf
from ..choices import ErrorCode
from ..exceptions import ProviderError
from .base import ChatResult, EmbedResult, ProviderClient, classify_status, local_error


def _error_from(exc: Exception) -> ProviderError:
    local = local_error(exc)
    if local is not None:
        return local
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError(ErrorCode.TIMEOUT, "the provider did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        return ProviderError(ErrorCode.CONNECTION, f"connection failed: {exc.__cause__ or exc}")
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if exc.body is not None else exc.response.text
        return ProviderError(classify_status(exc.status_code, body), f"HTTP {exc.status_code}: {exc.message}",
                             status=exc.status_code)
    if isinstance(exc, openai.APIResponseValidationError | ValueError | TypeError | KeyError | AttributeError):
        return ProviderError(ErrorCode.BAD_RESPONSE, f"malformed answer: {type(exc).__name__}: {exc}")
    return ProviderError(ErrorCode.ERROR, f"{type(exc).__name__}: {exc}")


class OpenAICompatibleClient(ProviderClient):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sdk = openai.OpenAI(
            api_key=self.api_key,
            base_url=self.base_url or None,
            timeout=self.timeout,
            max_retries=self.max_retries,
            default_headers=self.headers or None,
            http_client=self.http_client,
        )

    def chat(self, messages, *, model, max_tokens, temperature) -> ChatResult:
        # Always capped: a budget reservation assumes at most this many output tokens.
        params = {"model": model, "messages": messages, "max_tokens": max_tokens or conf.default_max_tokens()}
        if temperature is not None:
            params["temperature"] = temperature
        try:
            response = self.sdk.chat.completions.create(**params)
            text = response.choices[0].message.content or ""
            usage = response.usage
        except ProviderError:
            raise
        except Exception as exc:  # every SDK / protocol failure becomes one classified ProviderError
            raise _error_from(exc) from exc
        return ChatResult(
            text=text,
            input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            model=getattr(response, "model", "") or model,
        )

    def embed(self, texts, *, model) -> EmbedResult:
        try:
            response = self.sdk.embeddings.create(model=model, input=texts)
            vectors = [list(item.embedding) for item in sorted(response.data, key=lambda d: d.index)]
            usage = response.usage
        except Exception as exc:
            raise _error_from(exc) from exc
        if len(vectors) != len(texts):
            raise ProviderError(ErrorCode.BAD_RESPONSE, f"{len(vectors)} vectors for {len(texts)} texts")
        return EmbedResult(vectors=vectors, input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0), model=model)
