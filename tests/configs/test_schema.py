"""Template schemas: what a template may say, and that no schema reaches outside itself."""

import http.server
import json
import threading

import pytest

from configs import services
from configs.exceptions import ConfigValidationError
from configs.models import UserConfig

from .factories import ConfigTemplateFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema_server():
    """A real HTTP server on 127.0.0.1 that serves a schema and counts who asked for it."""
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = json.dumps({"enum": ["FROM-THE-REMOTE-SERVER"]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/schema.json"
    server.hits = hits
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def server_file(tmp_path):
    path = tmp_path / "server-file.json"
    path.write_text(json.dumps({"enum": ["CONTENT-OF-A-SERVER-FILE"]}))
    return path


def ref_schema(ref: str) -> dict:
    return {"type": "object", "properties": {"a": {"$ref": ref}}}


def test_local_refs_are_resolved_and_applied(owner):
    template = services.template_create(actor=owner, code="refs", name="refs", schema={
        "type": "object",
        "$defs": {"level": {"type": "integer", "minimum": 1, "maximum": 5}},
        "properties": {"level": {"$ref": "#/$defs/level"}},
    })
    services.config_create(actor=owner, template=template, user=owner, values={"level": 3})
    with pytest.raises(ConfigValidationError) as exc:
        services.config_create(actor=owner, template=template, user=owner, key="other", values={"level": 9})
    assert exc.value.detail[0]["path"] == "level"


def test_a_template_with_a_broken_local_ref_is_refused(owner):
    with pytest.raises(ConfigValidationError, match="nope"):
        services.template_create(actor=owner, code="broken", name="b", schema=ref_schema("#/$defs/nope"))
    template = services.template_create(actor=owner, code="fine", name="f", schema={"type": "object"})
    with pytest.raises(ConfigValidationError, match="nope"):
        services.template_update(template=template, actor=owner, schema=ref_schema("#/$defs/nope"))


def test_a_remote_ref_is_refused_and_never_fetched(owner, schema_server, server_file):
    for ref in (schema_server.url, f"file://{server_file}", "other.json#/x"):
        with pytest.raises(ConfigValidationError) as exc:
            services.template_create(actor=owner, code="remote", name="r", schema=ref_schema(ref),
                                     defaults={"a": "x"})
        assert "CONTENT-OF-A-SERVER-FILE" not in exc.value.message + json.dumps(exc.value.detail)
    assert schema_server.hits == []


def test_a_stored_template_with_a_bad_ref_refuses_values_without_a_500_or_a_fetch(
        world, client_for, schema_server, server_file):
    """Templates saved before refs were checked: writes are refused (400), nothing fetched or quoted."""
    client = client_for(world.agent)
    for ref in ("#/$defs/nope", schema_server.url, f"file://{server_file}"):
        template = ConfigTemplateFactory(schema=ref_schema(ref))
        response = client.post("/api/configs/", {"template": template.pk, "values": {"a": "x"}}, format="json")
        assert response.status_code == 400, response.content
        assert response.json()["error"] == "config_invalid"
        assert "CONTENT-OF-A-SERVER-FILE" not in response.content.decode()
        assert "FROM-THE-REMOTE-SERVER" not in response.content.decode()
    assert schema_server.hits == []
    assert not UserConfig.objects.exists()


LOOPS = {
    "itself": {"type": "object", "$ref": "#"},
    "through allOf": {"type": "object", "allOf": [{"$ref": "#"}]},
    "a definition": {"type": "object", "$defs": {"a": {"$ref": "#/$defs/a"}},
                     "properties": {"x": {"$ref": "#/$defs/a"}}},
    "two definitions": {"type": "object", "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {
        "anyOf": [{"type": "null"}, {"$ref": "#/$defs/a"}]}}, "properties": {"x": {"$ref": "#/$defs/a"}}},
}


@pytest.mark.parametrize("schema", LOOPS.values(), ids=LOOPS.keys())
def test_a_ref_loop_that_never_reaches_a_value_is_refused(world, client_for, schema):
    # Validating anything against it recursed until the stack ran out: a 500.
    response = client_for(world.superadmin).post("/api/templates/", {"code": "loop", "name": "loop",
                                                                     "schema": schema}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "config_invalid"


def test_a_schema_that_recurses_into_properties_and_items_is_fine(owner):
    template = services.template_create(actor=owner, code="tree", name="tree", schema={
        "type": "object", "$defs": {"list": {"type": "array", "items": {"$ref": "#/$defs/list"}}},
        "properties": {"child": {"$ref": "#"}, "nested": {"$ref": "#/$defs/list"}}})
    config = services.config_create(actor=owner, template=template, user=owner,
                                    values={"child": {"child": {}}, "nested": [[], [[]]]})
    assert config.values["nested"] == [[], [[]]]


@pytest.mark.parametrize("schema", LOOPS.values(), ids=LOOPS.keys())
def test_a_stored_template_with_a_ref_loop_refuses_values_without_a_500(world, client_for, schema):
    template = ConfigTemplateFactory(schema=schema)
    response = client_for(world.agent).post("/api/configs/", {"template": template.pk, "values": {"x": 1}},
                                            format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "config_invalid"
    assert not UserConfig.objects.exists()


DEFAULT_SECRET = "sk-shared-DEFAULTSECRET-777"


def secret_schema(**api_key) -> dict:
    return {"type": "object", "properties": {
        "model": {"type": "string"},
        "api_key": {"type": "string", "writeOnly": True, **api_key},
        "proxy": {"type": "object", "properties": {"password": {"type": "string", "writeOnly": True}}},
    }}


@pytest.mark.parametrize("schema, defaults", [
    (secret_schema(), {"api_key": DEFAULT_SECRET}),
    (secret_schema(), {"proxy": {"password": DEFAULT_SECRET}}),
    (secret_schema(default=DEFAULT_SECRET), {}),
    (secret_schema(examples=[DEFAULT_SECRET]), {}),
    (secret_schema(enum=[DEFAULT_SECRET]), {}),
    ({**secret_schema(), "properties": {**secret_schema()["properties"], "proxy": {
        "type": "object", "default": {"password": DEFAULT_SECRET},
        "properties": {"password": {"type": "string", "writeOnly": True}}}}}, {}),
], ids=["template-default", "nested-template-default", "schema-default", "examples", "enum", "parent-default"])
def test_a_secret_with_a_default_is_refused(world, client_for, schema, defaults):
    """Every signed-in user reads templates: a secret given there would be readable by all of them."""
    with pytest.raises(ConfigValidationError) as exc:
        services.template_create(actor=world.superadmin, code="llmx", name="x", schema=schema, defaults=defaults)
    assert DEFAULT_SECRET not in exc.value.message + json.dumps(exc.value.detail)
    template = services.template_create(actor=world.superadmin, code="llmy", name="y", schema=secret_schema())
    with pytest.raises(ConfigValidationError):
        services.template_update(template=template, actor=world.superadmin, schema=schema, defaults=defaults)
    response = client_for(world.superadmin).post(
        "/api/templates/", {"code": "llmz", "name": "z", "schema": schema, "defaults": defaults}, format="json")
    assert response.status_code == 400 and response.json()["error"] == "config_invalid"
    assert DEFAULT_SECRET not in response.content.decode()


@pytest.mark.parametrize("schema", [
    # Only a property reached through "properties" from the root is found, encrypted and masked.
    {"type": "object", "$defs": {"key": {"type": "string", "writeOnly": True}},
     "properties": {"api_key": {"$ref": "#/$defs/key"}}},
    {"type": "object", "properties": {"api_key": {"allOf": [{"type": "string", "writeOnly": True}]}}},
    {"type": "object", "additionalProperties": {"type": "string", "writeOnly": True}},
    # A dotted name would be read as a nested path and the value never encrypted.
    {"type": "object", "properties": {"api.key": {"type": "string", "writeOnly": True}}},
    # Only text is encrypted.
    {"type": "object", "properties": {"pin": {"type": "integer", "writeOnly": True}}},
], ids=["ref", "allOf", "additionalProperties", "dotted", "integer"])
def test_a_secret_the_app_could_not_encrypt_is_refused(owner, schema):
    with pytest.raises(ConfigValidationError):
        services.template_create(actor=owner, code="stray", name="s", schema=schema)


def test_a_property_may_be_called_write_only(owner):
    template = services.template_create(actor=owner, code="flags", name="flags", schema={
        "type": "object", "properties": {"writeOnly": {"type": "boolean"}, "$defs": {"type": "string"}}})
    assert template.secret_paths() == []
