"""The test setup's own rules: a missing server fails under CI and is skipped elsewhere."""

import pytest
from _pytest.outcomes import Failed, Skipped

from tests.plugins import servers


def test_a_missing_server_fails_the_run_under_ci(monkeypatch):
    monkeypatch.setattr(servers, "IN_CI", True)
    with pytest.raises(Failed, match="CI=true"):
        servers.missing("Redis", "redis-server not found")


def test_a_missing_server_is_skipped_on_a_developer_machine(monkeypatch):
    monkeypatch.setattr(servers, "IN_CI", False)
    with pytest.raises(Skipped):
        servers.missing("Redis", "redis-server not found")


@pytest.mark.redis
def test_the_redis_fixture_is_a_real_server(redis_server):
    import redis

    client = redis.Redis.from_url(redis_server.url)
    assert client.ping() is True
    assert client.info("server")["tcp_port"] == redis_server.port
