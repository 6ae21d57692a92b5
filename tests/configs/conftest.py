import pytest

from configs import services
from tests.accounts.factories import UserFactory

from .factories import ConfigTemplateFactory, shop_settings_template_ensure

SECRET = "sk-live-THISISTHESECRET-9f8e7d"
PROXY_SECRET = "proxy-pass-PLAINTEXT-42"


@pytest.fixture
def template(db):
    return ConfigTemplateFactory()


@pytest.fixture
def owner(db):
    return UserFactory(username="owner")


@pytest.fixture
def config(template, owner):
    return services.config_create(
        actor=owner, template=template, user=owner,
        values={"model": "gpt-4o", "temperature": 0.2, "api_key": SECRET, "proxy": {"password": PROXY_SECRET}},
        reason="first", ip="10.0.0.1", user_agent="pytest",
    )


@pytest.fixture
def shop_settings_template(db):
    """The seeded template (re-seeded if a transactional test flushed the database)."""
    return shop_settings_template_ensure()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The file cache outlives a test's rolled-back rows; ids get reused, so start each test empty."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
