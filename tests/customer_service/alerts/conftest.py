import json

import pytest

from .fake_robots import FakeRobots, FakeSMTP


@pytest.fixture
def robots():
    server = FakeRobots().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server(settings):
    server = FakeSMTP().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield server
    server.stop()


@pytest.fixture
def allow_webhook_hosts(db):
    """``allow_webhook_hosts("127.0.0.1:8001")``: what a superadmin allows shops' webhooks beyond public https."""
    from django.core.cache import cache

    from configs.models import SystemConfig
    from customer_service.alerts.egress import ALLOWED_HOSTS_KEY

    def allow(*hosts):
        SystemConfig.objects.update_or_create(key=ALLOWED_HOSTS_KEY,
                                              defaults={"value_type": "json", "value": json.dumps(list(hosts))})
        cache.clear()

    return allow
