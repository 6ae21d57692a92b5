import pytest


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
