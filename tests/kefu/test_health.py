import pytest
from django.core.cache import cache

from kefu.views import HEALTH_CACHE_KEY


@pytest.fixture(autouse=True)
def fresh_health_answer():
    cache.delete(HEALTH_CACHE_KEY)
    yield
    cache.delete(HEALTH_CACHE_KEY)


@pytest.mark.django_db
def test_health_names_the_queues_without_a_worker(client):
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["cache"]["ok"] is True
    assert "queue:default" in body["down"]


@pytest.mark.redis
@pytest.mark.slow
def test_health_is_up_with_a_real_worker_on_redis(client, celery_worker_process, settings):
    settings.KEFU_HEALTH_QUEUES = ["default", "llm"]
    response = client.get("/health")
    body = response.json()
    assert response.status_code == 200, body
    assert body["down"] == []
    assert body["checks"]["broker"]["ok"] is True


@pytest.mark.redis
@pytest.mark.slow
def test_a_task_round_trips_through_a_real_worker(celery_worker_process):
    from kefu.celery import ping

    assert ping.delay().get(timeout=20) == "pong"


@pytest.fixture
def broker_down():
    """The broker's address points at a closed port (with a password that must not leak)."""
    from kefu.celery import app
    from tests.conftest import _reset_celery_connections

    keys = ("broker_url", "broker_write_url", "broker_transport_options")
    saved = {key: app.conf.get(key) for key in keys}  # raw values: broker_write_url falls back when None
    app.conf.update(broker_url="redis://:S3cret@127.0.0.1:1/0", broker_write_url=None, broker_transport_options={})
    _reset_celery_connections(app)
    yield
    app.conf.update(saved)
    _reset_celery_connections(app)


@pytest.mark.django_db
def test_anyone_learns_what_is_down_but_not_why(client, broker_down):
    import time

    started = time.monotonic()
    response = client.get("/health")
    elapsed = time.monotonic() - started
    body = response.json()
    assert response.status_code == 503 and {"broker", "queue:default"} <= set(body["down"])
    assert body["checks"]["broker"] == {"ok": False}
    assert "127.0.0.1" not in response.content.decode() and "S3cret" not in response.content.decode()
    assert elapsed < 5  # the workers are not asked through a broker that is down


@pytest.mark.django_db
def test_a_superadmin_sees_the_reasons(client, world):
    client.force_login(world.superadmin)
    body = client.get("/health").json()
    assert "no worker consumes this queue" in body["checks"]["queue:default"]["detail"]


@pytest.mark.django_db
def test_answers_are_reused_for_a_few_seconds(client, django_assert_max_num_queries):
    client.get("/health")
    with django_assert_max_num_queries(2):  # the session middleware may read; no SELECT 1 check
        assert client.get("/health").status_code == 503


@pytest.mark.django_db
def test_a_cache_that_is_down_is_reported_not_a_500(client, settings):
    settings.CACHES = {**settings.CACHES, "default": {
        "BACKEND": "kefu.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}
    response = client.get("/health")  # (changing CACHES resets Django's cache handlers)
    assert response.status_code == 503 and "cache" in response.json()["down"]
