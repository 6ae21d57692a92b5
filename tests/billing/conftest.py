"""Billing fixtures: the fake provider servers, configs pointed at them, a clean breaker state."""

import pytest
from django.core.cache import cache

from tests.billing.factories import ModelConfigFactory, ProviderFactory, priced
from tests.billing.fake_llm import FakeLLMServer


@pytest.fixture(scope="session")
def _llm_server():
    server = FakeLLMServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _anthropic_server():
    server = FakeLLMServer().start()
    yield server
    server.stop()


@pytest.fixture
def fake_llm(_llm_server):
    """A real HTTP server speaking OpenAI chat completions and embeddings; behaviour set per model."""
    _llm_server.reset()
    yield _llm_server
    _llm_server.reset()


@pytest.fixture
def fake_anthropic(_anthropic_server):
    """A real HTTP server speaking Anthropic's messages API."""
    _anthropic_server.reset()
    yield _anthropic_server
    _anthropic_server.reset()


@pytest.fixture(autouse=True)
def _clean_breakers():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def llm_config(db, fake_llm, allow_provider_hosts):
    """``llm_config(model_code, **fields)`` → an active, priced OpenAI-compatible config on the fake server.

    The fake server is on loopback: it is in the allowance a superadmin gives, so configs of people
    who are not superadmins may call it too (billing.egress).
    """
    allow_provider_hosts(f"127.0.0.1:{fake_llm.port}")

    def make(model_code="gpt-test", *, per_1k_in="0.002", per_1k_out="0.003", currency="CNY", **fields):
        provider = ProviderFactory(code=fields.pop("provider_code", "custom"), api_style="openai",
                                   default_base_url=fake_llm.openai_url)
        config = ModelConfigFactory(provider=provider, model_code=model_code, name=fields.pop("name", model_code),
                                    **fields)
        priced(config.model, per_1k_in=per_1k_in, per_1k_out=per_1k_out, currency=currency)
        return config

    return make


@pytest.fixture
def anthropic_config(db, fake_anthropic, allow_provider_hosts):
    allow_provider_hosts(f"127.0.0.1:{fake_anthropic.port}")

    def make(model_code="claude-test", *, per_1k_in="0.001", per_1k_out="0.005", currency="USD", **fields):
        provider = ProviderFactory(code="anthropic", api_style="anthropic",
                                   default_base_url=fake_anthropic.anthropic_url)
        config = ModelConfigFactory(provider=provider, model_code=model_code, name=fields.pop("name", model_code),
                                    **fields)
        priced(config.model, per_1k_in=per_1k_in, per_1k_out=per_1k_out, currency=currency)
        return config

    return make


@pytest.fixture
def superadmin_client(client, world):
    """The Django test client signed in as the superadmin, the admin in English."""
    client.force_login(world.superadmin)
    client.cookies["django_language"] = "en"
    return client
