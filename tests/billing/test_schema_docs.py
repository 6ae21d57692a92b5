"""The connection tests' answers are what the OpenAPI schema says."""

import pytest

pytestmark = pytest.mark.django_db


def test_the_connection_tests_are_documented_as_the_plain_lists_they_return(
        client_for, world, llm_config, assert_documented, openapi_schema):
    config = llm_config("gpt-a")
    client = client_for(world.superadmin)
    by_config = client.post(f"/api/model-configs/{config.pk}/test/", format="json")
    by_provider = client.post(f"/api/providers/{config.provider_id}/test/", {}, format="json")
    assert isinstance(by_config.json(), list) and isinstance(by_provider.json(), list)
    assert_documented(by_config, "/api/model-configs/{id}/test/", "post")
    assert_documented(by_provider, "/api/providers/{id}/test/", "post")
