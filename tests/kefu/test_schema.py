"""The OpenAPI schema says what the API does: list shapes, sign-in needs, filters and error statuses."""

import pytest

pytestmark = pytest.mark.django_db


def test_public_system_configs_are_documented_as_readable_without_signing_in(openapi_schema):
    paths = openapi_schema["paths"]
    assert {} in paths["/api/system-configs/"]["get"]["security"]
    assert {} in paths["/api/system-configs/{key}/"]["get"]["security"]
    for path, method in (("/api/system-configs/{key}/history/", "get"), ("/api/system-configs/", "post")):
        assert {} not in paths[path][method]["security"]


@pytest.mark.parametrize("path, method", [
    ("/api/configs/{id}/history/", "get"),
    ("/api/system-configs/{key}/history/", "get"),
    ("/api/model-configs/{id}/test/", "post"),
    ("/api/providers/{id}/test/", "post"),
    ("/api/shops/{id}/members/", "get"),
])
def test_no_filter_is_documented_where_none_applies(openapi_schema, path, method):
    names = {p["name"] for p in openapi_schema["paths"][path][method].get("parameters", []) if p["in"] == "query"}
    assert not names - {"page", "page_size"}, names


def test_every_operation_documents_its_error_answers_in_the_error_shape(openapi_schema):
    error = {"$ref": "#/components/schemas/Error"}
    for path, methods in openapi_schema["paths"].items():
        for method, operation in methods.items():
            responses = operation["responses"]
            assert {"401", "429"} <= set(responses), f"{method.upper()} {path}"
            if method in {"post", "put", "patch", "delete"}:
                assert "409" in responses, f"{method.upper()} {path}"
            if "requestBody" in operation:
                assert {"400", "415"} <= set(responses), f"{method.upper()} {path}"
            if any(p["in"] == "path" for p in operation.get("parameters", [])):
                assert "404" in responses, f"{method.upper()} {path}"
            for code in ("401", "429"):
                assert responses[code]["content"]["application/json"]["schema"] == error


def test_adding_a_member_is_documented_as_the_201_it_answers(client_for, world, openapi_schema, assert_documented):
    response = client_for(world.superadmin).post(f"/api/shops/{world.shop.pk}/members/",
                                                 {"user": world.outsider.pk, "role": "agent"}, format="json")
    assert response.status_code == 201
    assert_documented(response, "/api/shops/{id}/members/", "post")
