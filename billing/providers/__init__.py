"""Provider clients: one module per API style over :class:`billing.providers.base.ProviderClient`."""

from .base import ChatResult, EmbedResult, ProviderClient


def client_for(config) -> ProviderClient:
    """The client of ``config``'s API style, reused while the config is unchanged (keeps HTTP connections)."""
    from .anthropic import AnthropicClient
    from .openai_compat import OpenAICompatibleClient

    cls = AnthropicClient if config.provider.api_style == "anthropic" else OpenAICompatibleClient
    return cls.for_config(config)


__all__ = ["ChatResult", "EmbedResult", "ProviderClient", "client_for"]
