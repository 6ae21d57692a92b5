"""Fixtures shared by every app's tests: people in each role, API clients, real servers."""

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from customer_service.shops.choices import ShopRole
from tests.accounts.factories import SuperadminFactory, UserFactory
from tests.customer_service.factories import ShopFactory, ShopMembershipFactory
from tests.plugins.servers import RedisServer, missing

PROJECT_DIR = Path(__file__).resolve().parent.parent


@dataclass
class World:
    """Two shops and one person in each role; ``outsider`` belongs to the other shop only."""

    shop: object
    other_shop: object
    superadmin: object
    shop_admin: object
    agent: object
    outsider: object


@pytest.fixture
def world(db):
    shop, other_shop = ShopFactory(name="甜品旗舰店"), ShopFactory(name="数码专营店")
    shop_admin, agent, outsider = UserFactory(username="shopadmin"), UserFactory(username="agent"), UserFactory(
        username="outsider")
    ShopMembershipFactory(shop=shop, user=shop_admin, role=ShopRole.ADMIN)
    ShopMembershipFactory(shop=shop, user=agent, role=ShopRole.AGENT)
    ShopMembershipFactory(shop=other_shop, user=outsider, role=ShopRole.ADMIN)
    return World(shop=shop, other_shop=other_shop, superadmin=SuperadminFactory(username="root"),
                 shop_admin=shop_admin, agent=agent, outsider=outsider)


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def client_for():
    """``client_for(user)`` → an APIClient signed in as ``user`` (None: anonymous)."""

    def make(user):
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture(scope="session")
def redis_server():
    try:
        server = RedisServer().start()
    except RuntimeError as exc:
        missing("Redis", str(exc))
    yield server
    server.stop()


def _database_url_for_worker(settings) -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def process_environment(settings, *, broker_url: str = "", result_backend: str = "",
                        settings_module: str = "kefu.settings.test", **extra: str) -> dict:
    """The environment of a process a test starts that reads the test database: a real Celery worker, or a
    reader in another process. ``broker_url`` / ``result_backend``: the Redis the worker uses."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "KEFU_WORKER_DATABASE_URL": _database_url_for_worker(settings),
        "KEFU_TEST_RUNTIME_DIR": str(settings.TEST_RUNTIME_DIR),
    }
    if broker_url:
        env["KEFU_TEST_BROKER_URL"] = broker_url
    if result_backend:
        env["KEFU_TEST_RESULT_BACKEND"] = result_backend
    return {**env, **extra}


def _reset_celery_connections(app):
    # Celery caches its connection pools and control mailbox on first use;
    # drop them so the next call connects to the broker now configured.
    app._pool = None
    app.amqp._producer_pool = None
    app.__dict__.pop("control", None)
    app.__dict__.pop("backend", None)
    app._local.__dict__.clear()


@pytest.fixture
def celery_worker_env():
    """More environment for the worker of ``celery_worker_process`` (a test module overrides this)."""
    return {}


@pytest.fixture
def celery_worker_process(redis_server, settings, transactional_db, celery_worker_env):
    """A real ``celery worker`` process on the real Redis, reading the test database.

    Sends from this process go to Redis too while the fixture is active.
    """
    from kefu.celery import app

    env = process_environment(settings, broker_url=redis_server.url, result_backend=redis_server.url,
                              **celery_worker_env)
    hostname = f"kefu-test-{os.getpid()}@localhost"
    log_path = Path(settings.TEST_RUNTIME_DIR) / "celery-worker.log"
    log = log_path.open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "kefu", "worker", "-Q", "default,llm", "-P", "solo", "-n", hostname,
         "--without-mingle", "--without-gossip", "-l", "warning"],
        cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    saved = {k: app.conf[k] for k in ("broker_url", "result_backend", "task_always_eager")}
    app.conf.update(broker_url=redis_server.url, result_backend=redis_server.url, task_always_eager=False)
    _reset_celery_connections(app)
    settings.CELERY_BROKER_URL = redis_server.url
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                pytest.fail(f"the celery worker exited: {log_path.read_text()}")
            if app.control.ping(destination=[hostname], timeout=0.5):
                break
        else:
            pytest.fail(f"the celery worker did not answer ping within 60 s: {log_path.read_text()}")
        yield app
    finally:
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
        app.conf.update(saved)
        _reset_celery_connections(app)


def _as_json_schema(node):
    """OpenAPI 3.0's ``nullable: true`` in JSON Schema's words: null is one more type."""
    if isinstance(node, list):
        return [_as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _as_json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False):
        if isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


@pytest.fixture(scope="session")
def openapi_schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.fixture
def assert_documented(openapi_schema):
    """``assert_documented(response, path, method)``: the JSON body is what /api/schema/ says it is."""
    import jsonschema

    def check(response, path, method="get"):
        documented = openapi_schema["paths"][path][method]["responses"][str(response.status_code)]
        schema = documented["content"]["application/json"]["schema"]
        jsonschema.validate(response.json(), _as_json_schema({**schema, "components": openapi_schema["components"]}))

    return check


@pytest.fixture
def allow_provider_hosts(db):
    """``allow_provider_hosts("127.0.0.1:8001", …)``: what a superadmin allows beyond the public https rule for
    configs of people who are not superadmins (billing.egress), e.g. the loopback fake providers."""
    import json

    from django.core.cache import cache

    from billing.egress import ALLOWED_HOSTS_KEY
    from configs.models import SystemConfig

    def allow(*hosts):
        SystemConfig.objects.update_or_create(key=ALLOWED_HOSTS_KEY,
                                              defaults={"value_type": "json", "value": json.dumps(list(hosts))})
        cache.clear()  # system config reads are cached

    return allow


@pytest.fixture(autouse=True)
def _celery_joins_allowed():
    # Celery keeps "a task is running here, joining would block" in one process-wide flag that each eager
    # task sets and restores; two eager tasks in two threads restore it out of order and leave it set, and a
    # later test's result.get() would then refuse. Every test starts outside any task.
    from celery._state import _set_task_join_will_block

    _set_task_join_will_block(False)
    yield
