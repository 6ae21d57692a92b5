import pytest

from configs import services
from tests.accounts.factories import UserFactory

from .factories import ConfigTemplateFactory

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
