import json

import pytest

from configs import selectors, services
from configs.models import ConfigHistory, ConfigTemplate, SystemConfig, UserConfig

from .conftest import PROXY_SECRET, SECRET

pytestmark = pytest.mark.django_db


def assert_error(response, status, code=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error", "message", "detail"} and body["message"]
    if code:
        assert body["error"] == code, body
    return body


@pytest.fixture
def shop_config(world, shop_settings_template):
    return services.shop_settings_update(shop=world.shop, actor=world.shop_admin, values={"auto_mode": True})


def test_create_read_update_with_secrets_masked(client_for, template, owner):
    client = client_for(owner)
    response = client.post("/api/configs/", {"template": template.pk, "key": "main",
                                             "values": {"model": "gpt-4o", "temperature": 0.3, "api_key": SECRET}},
                           format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert SECRET not in response.content.decode()
    assert body["values"]["api_key"].startswith("sk-…") and body["version"] == 1 and body["user"] == owner.pk

    # The masked document sent back unchanged keeps the secret; the version guards the edit.
    values = {**body["values"], "temperature": 1.1}
    response = client.put(f"/api/configs/{body['id']}/", {"values": values, "version": 1, "reason": "tune"},
                          format="json")
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2
    stored = selectors.config_values_get(template_code=template.code, user=owner, key="main")
    assert stored["api_key"] == SECRET and stored["temperature"] == 1.1

    for url in (f"/api/configs/{body['id']}/", "/api/configs/", f"/api/configs/{body['id']}/history/"):
        text = client.get(url).content.decode()
        assert SECRET not in text and "THISISTHESECRET" not in text


def test_stale_version_is_a_409_with_a_code(client_for, config, owner):
    client = client_for(owner)
    assert client.patch(f"/api/configs/{config.pk}/", {"values": {"model": "a"}, "version": 1},
                        format="json").status_code == 200
    response = client.patch(f"/api/configs/{config.pk}/", {"values": {"model": "b"}, "version": 1}, format="json")
    body = assert_error(response, 409, "config_version_conflict")
    assert body["detail"] == {"current_version": 2, "expected_version": 1}


@pytest.mark.parametrize(
    "payload",
    [
        {"values": {"model": "x", "temperature": 9}},
        {"values": {"model": 5}},
        {"values": {"nope": 1}},
        {"values": [1, 2]},
        {"values": "text"},
        {"values": {"model": "x"}, "version": "abc"},
        {"values": {"model": "x"}, "scope": "forever"},
        {"values": {"model": "x"}, "scope": "temporary"},
        {"values": {"model": "x"}, "expires_at": "not a date"},
    ],
)
def test_bad_input_is_a_4xx_json_error_and_nothing_changes(client_for, config, owner, payload):
    response = client_for(owner).patch(f"/api/configs/{config.pk}/", payload, format="json")
    assert_error(response, 400)
    config.refresh_from_db()
    assert config.version == 1 and ConfigHistory.objects.filter(config=config).count() == 1


def test_bad_create_input_is_a_4xx_json_error(client_for, template, owner):
    client = client_for(owner)
    before = UserConfig.objects.count()
    for payload in ({"template": 999999}, {"template": "x"}, {"template": template.pk, "values": {"temperature": 7}},
                    {"template": template.pk, "key": "bad key!"}, {}):
        assert_error(client.post("/api/configs/", payload, format="json"), 400)
    response = client.post("/api/configs/", "{not json", content_type="application/json")
    assert_error(response, 400, "invalid_json")
    assert UserConfig.objects.count() == before


def test_history_and_rollback_over_the_api(client_for, config, owner):
    client = client_for(owner)
    client.patch(f"/api/configs/{config.pk}/", {"values": {**selectors.config_masked_values(config=config),
                                                           "model": "qwen"}}, format="json")
    history = client.get(f"/api/configs/{config.pk}/history/").json()["results"]
    assert [(h["version"], h["action"]) for h in history] == [(2, "update"), (1, "create")]
    assert history[0]["old_values"]["model"] == "gpt-4o" and history[0]["new_values"]["model"] == "qwen"
    assert history[0]["actor_username"] == "owner"
    assert "snapshot" not in history[0]
    diff = client.get(f"/api/configs/{config.pk}/diff/?from=1&to=2").json()
    assert diff == [{"path": "model", "change": "changed", "old": "gpt-4o", "new": "qwen"}]

    response = client.post(f"/api/configs/{config.pk}/rollback/", {"version": 1, "reason": "undo"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 3 and response.json()["values"]["model"] == "gpt-4o"
    assert selectors.config_values_get(template_code=config.template.code, user=owner)["api_key"] == SECRET
    assert_error(client.post(f"/api/configs/{config.pk}/rollback/", {"version": 42}, format="json"), 404)
    assert_error(client.post(f"/api/configs/{config.pk}/rollback/", {"version": "x"}, format="json"), 400)
    assert_error(client.get(f"/api/configs/{config.pk}/diff/?from=a"), 400)


def test_a_diff_is_the_plain_list_the_schema_documents(client_for, config, owner, assert_documented):
    client = client_for(owner)
    client.patch(f"/api/configs/{config.pk}/", {"values": {**selectors.config_masked_values(config=config),
                                                           "model": "qwen"}}, format="json")
    response = client.get(f"/api/configs/{config.pk}/diff/?from=1&to=2&page=2&is_active=false")
    assert [row["path"] for row in response.json()] == ["model"]
    assert_documented(response, "/api/configs/{id}/diff/")


def test_deactivate_and_delete(client_for, config, owner):
    client = client_for(owner)
    assert client.patch(f"/api/configs/{config.pk}/", {"is_active": False}, format="json").json()["is_active"] is False
    assert client.delete(f"/api/configs/{config.pk}/?version=2").status_code == 204
    assert list(ConfigHistory.objects.filter(config_ref=config.pk).values_list("action", flat=True)
                .order_by("version")) == ["create", "deactivate", "delete"]


def test_shop_config_scoping(client_for, world, shop_config):
    url = f"/api/configs/{shop_config.pk}/"
    # The agent reads the shop's settings but cannot change or roll them back.
    agent = client_for(world.agent)
    assert agent.get(url).status_code == 200
    assert_error(agent.patch(url, {"values": {"auto_mode": False}}, format="json"), 403)
    assert_error(agent.post(url + "rollback/", {"version": 1}, format="json"), 403)
    # Another shop's admin does not even see it.
    outsider = client_for(world.outsider)
    assert_error(outsider.get(url), 404)
    assert shop_config.pk not in [c["id"] for c in outsider.get("/api/configs/").json()["results"]]
    assert_error(outsider.post("/api/configs/", {"template": shop_config.template_id, "shop": world.shop.pk,
                                                 "key": "x"}, format="json"), 403)
    # The shop admin and the superadmin change it.
    admin = client_for(world.shop_admin)
    assert admin.patch(url, {"values": {**shop_config.values, "auto_mode": False}, "version": 1},
                       format="json").status_code == 200
    assert client_for(world.superadmin).post(url + "rollback/", {"version": 1}, format="json").status_code == 200
    assert selectors.shop_settings_get(shop=world.shop)["auto_mode"] is True
    # Anonymous: nothing.
    assert_error(client_for(None).get("/api/configs/"), 401)


def test_shop_settings_rules_hold_over_the_api(client_for, world, shop_config):
    response = client_for(world.shop_admin).patch(
        f"/api/configs/{shop_config.pk}/", {"values": {**shop_config.values, "draft_threshold": 0.99}}, format="json")
    body = assert_error(response, 400, "config_invalid")
    assert body["detail"][0]["path"] == "draft_threshold"


def test_users_cannot_create_configs_for_others(client_for, world, template):
    assert_error(client_for(world.agent).post("/api/configs/", {"template": template.pk, "user": world.outsider.pk},
                                              format="json"), 403)
    response = client_for(world.superadmin).post("/api/configs/", {"template": template.pk,
                                                                   "user": world.outsider.pk}, format="json")
    assert response.status_code == 201


def test_templates_are_read_by_all_and_written_by_superadmins(client_for, world, template):
    assert client_for(world.agent).get("/api/templates/").status_code == 200
    assert_error(client_for(world.agent).post("/api/templates/", {"code": "x", "name": "x",
                                                                  "schema": {"type": "object"}}, format="json"), 403)
    assert_error(client_for(None).get("/api/templates/"), 401)
    root = client_for(world.superadmin)
    response = root.post("/api/templates/", {"code": "prompts", "name": "Prompts", "schema": {
        "type": "object", "properties": {"greeting": {"type": "string", "default": "您好"}}}}, format="json")
    assert response.status_code == 201, response.content
    tid = response.json()["id"]
    assert_error(root.post("/api/templates/", {"code": "bad", "name": "b", "schema": {"type": "object",
                 "properties": {"a": {"type": 7}}}}, format="json"), 400, "config_invalid")
    response = root.patch(f"/api/templates/{tid}/", {"defaults": {"greeting": "亲"}}, format="json")
    assert response.json()["version"] == 2
    assert root.delete(f"/api/templates/{tid}/").status_code == 204
    services.config_create(actor=world.agent, template=template, user=world.agent)
    assert_error(root.delete(f"/api/templates/{template.pk}/"), 400, "config_template_in_use")


@pytest.mark.parametrize("payload, format", [
    ({"code": "no-schema", "name": "No schema"}, "json"),
    ({"code": "no-schema", "name": "No schema"}, "multipart"),
    ({"code": "text-schema", "name": "Text schema", "schema": "0"}, "multipart"),
    ({"code": "list-schema", "name": "List schema", "schema": [1, 2]}, "json"),
])
def test_a_template_without_a_usable_schema_is_a_400(client_for, world, payload, format):
    response = client_for(world.superadmin).post("/api/templates/", payload, format=format)
    assert_error(response, 400)
    assert not ConfigTemplate.objects.filter(code=payload["code"]).exists()


def test_system_templates_cannot_be_deleted(client_for, world, shop_settings_template):
    assert_error(client_for(world.superadmin).delete(f"/api/templates/{shop_settings_template.pk}/"), 400,
                 "config_template_system")


@pytest.mark.parametrize("method", ["patch", "put"])
def test_a_system_template_cannot_be_unmarked_and_so_stays_undeletable(client_for, world, shop_settings_template,
                                                                        method):
    root = client_for(world.superadmin)
    url = f"/api/templates/{shop_settings_template.pk}/"
    body = {"is_system": False}
    if method == "put":
        body = {**root.get(url).json(), **body}
    assert_error(getattr(root, method)(url, body, format="json"), 400, "config_invalid")
    assert_error(root.delete(url), 400, "config_template_system")
    shop_settings_template.refresh_from_db()
    assert shop_settings_template.is_system


def test_categories(client_for, world):
    root = client_for(world.superadmin)
    parent = root.post("/api/categories/", {"code": "ai", "name": "AI"}, format="json").json()
    child = root.post("/api/categories/", {"code": "ai-prompts", "name": "Prompts", "parent": parent["id"]},
                      format="json")
    assert child.status_code == 201
    assert_error(root.patch(f"/api/categories/{parent['id']}/", {"parent": child.json()["id"]}, format="json"), 400)
    assert_error(root.delete(f"/api/categories/{parent['id']}/"), 400, "config_category_in_use")
    assert client_for(world.agent).get("/api/categories/").status_code == 200
    assert_error(client_for(world.shop_admin).post("/api/categories/", {"code": "z", "name": "z"}, format="json"), 403)


@pytest.fixture
def system_configs(world):
    services.system_config_create(actor=world.superadmin, key="site.name", value_type="string", value="客服",
                                  is_public=True)
    services.system_config_create(actor=world.superadmin, key="pipeline.batch_size", value_type="int", value=20)
    services.system_config_create(actor=world.superadmin, key="smtp.password", value_type="string",
                                  value=PROXY_SECRET, is_encrypted=True)


def test_public_system_configs_are_readable_without_login(client_for, system_configs):
    anon = client_for(None)
    rows = anon.get("/api/system-configs/").json()["results"]
    assert [(r["key"], r["value"]) for r in rows] == [("site.name", "客服")]
    assert anon.get("/api/system-configs/site.name/").json()["value"] == "客服"
    assert_error(anon.get("/api/system-configs/pipeline.batch_size/"), 404)
    assert_error(anon.post("/api/system-configs/", {"key": "a", "value_type": "int", "value": 1}, format="json"), 401)


def test_private_system_configs_are_superadmin_only_and_secrets_masked(client_for, world, system_configs):
    assert [r["key"] for r in client_for(world.shop_admin).get("/api/system-configs/").json()["results"]] == [
        "site.name"]
    root = client_for(world.superadmin)
    response = root.get("/api/system-configs/")
    values = {r["key"]: r["value"] for r in response.json()["results"]}
    assert values["pipeline.batch_size"] == 20
    assert PROXY_SECRET not in response.content.decode() and values["smtp.password"].endswith("T-42")
    assert_error(client_for(world.shop_admin).patch("/api/system-configs/site.name/", {"value": "x"},
                                                    format="json"), 403)


def test_system_config_writes_are_typed(client_for, world, system_configs):
    root = client_for(world.superadmin)
    response = root.patch("/api/system-configs/pipeline.batch_size/", {"value": "35", "version": 1}, format="json")
    assert response.status_code == 200 and response.json()["value"] == 35
    body = assert_error(root.patch("/api/system-configs/pipeline.batch_size/", {"value": "many"}, format="json"),
                        400, "config_invalid")
    assert "whole number" in body["message"]
    assert_error(root.patch("/api/system-configs/pipeline.batch_size/", {"value": 1, "version": 1}, format="json"),
                 409)
    assert_error(root.post("/api/system-configs/", {"key": "x.flag", "value_type": "bool", "value": "perhaps"},
                           format="json"), 400)
    assert_error(root.post("/api/system-configs/", {"key": "Bad Key", "value_type": "int", "value": 1},
                           format="json"), 400)
    assert_error(root.post("/api/system-configs/", {"key": "x.json", "value_type": "json", "value": "{oops"},
                           format="json"), 400)
    assert_error(root.patch("/api/system-configs/smtp.password/", {"is_public": True}, format="json"), 400)
    response = root.post("/api/system-configs/", {"key": "x.json", "value_type": "json", "value": {"a": [1]}},
                         format="json")
    assert response.status_code == 201 and response.json()["value"] == {"a": [1]}
    assert SystemConfig.objects.get(key="x.json").value == json.dumps({"a": [1]})


def test_shop_settings_endpoint(client_for, world, shop_settings_template):
    url = f"/api/configs/shop-settings/{world.shop.pk}/"
    body = client_for(world.agent).get(url).json()
    assert (body["version"], body["config"], body["values"]["auto_send_threshold"]) == (0, None, 0.9)
    assert_error(client_for(world.agent).patch(url, {"values": {"auto_mode": True}}, format="json"), 403)
    assert_error(client_for(world.outsider).get(url), 404)
    admin = client_for(world.shop_admin)
    body = admin.patch(url, {"values": {"auto_mode": True}, "version": 0, "reason": "on"}, format="json").json()
    assert body["version"] == 1 and body["values"]["auto_mode"] is True
    body = admin.patch(url, {"values": {"reply_delay_seconds": 4}, "version": 1}, format="json").json()
    assert body["version"] == 2 and body["values"]["auto_mode"] is True and body["values"]["reply_delay_seconds"] == 4
    assert_error(admin.patch(url, {"values": {"auto_mode": False}, "version": 1}, format="json"), 409)
    assert_error(admin.patch(url, {"values": {"draft_threshold": 2}}, format="json"), 400, "config_invalid")
    assert_error(admin.patch(url, {"values": "x"}, format="json"), 400)
    assert_error(admin.get("/api/configs/shop-settings/999999/"), 404)


def test_no_secret_reaches_the_logs(client_for, template, owner, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    client = client_for(owner)
    created = client.post("/api/configs/", {"template": template.pk, "values": {"model": "m", "api_key": SECRET}},
                          format="json").json()
    client.patch(f"/api/configs/{created['id']}/", {"values": {"model": "n", "api_key": SECRET + "x"}},
                 format="json")
    client.patch(f"/api/configs/{created['id']}/", {"values": {"temperature": 9}}, format="json")  # refused
    client.post(f"/api/configs/{created['id']}/rollback/", {"version": 1}, format="json")
    assert caplog.records  # the services did log
    assert "THISISTHESECRET" not in caplog.text


def test_system_config_history_and_rollback(client_for, world, system_configs):
    root = client_for(world.superadmin)
    root.patch("/api/system-configs/pipeline.batch_size/", {"value": 35, "reason": "peak"}, format="json")
    root.patch("/api/system-configs/pipeline.batch_size/", {"value": 50}, format="json")
    rows = root.get("/api/system-configs/pipeline.batch_size/history/").json()["results"]
    assert [(r["version"], r["action"], r["old_value"], r["new_value"]) for r in rows] == [
        (3, "update", 35, 50), (2, "update", 20, 35), (1, "create", None, 20)]
    assert rows[1]["reason"] == "peak" and rows[1]["actor_username"] == "root"
    response = root.post("/api/system-configs/pipeline.batch_size/rollback/", {"version": 1}, format="json")
    assert response.status_code == 200 and response.json() | {"version": 4, "value": 20} == response.json()
    assert selectors.system_config_value("pipeline.batch_size") == 20
    assert_error(root.post("/api/system-configs/pipeline.batch_size/rollback/", {"version": 9}, format="json"), 404)
    assert_error(client_for(world.shop_admin).get("/api/system-configs/site.name/history/"), 403)
    assert_error(client_for(world.shop_admin).post("/api/system-configs/site.name/rollback/", {"version": 1},
                                                   format="json"), 403)

    root.patch("/api/system-configs/smtp.password/", {"value": "another-secret-value"}, format="json")
    text = root.get("/api/system-configs/smtp.password/history/").content.decode()
    assert PROXY_SECRET not in text and "another-secret-value" not in text
    root.post("/api/system-configs/smtp.password/rollback/", {"version": 1}, format="json")
    assert selectors.system_config_value("smtp.password") == PROXY_SECRET


@pytest.mark.parametrize("forwarded, remote, recorded", [
    ("1.2.3.4, 10.0.0.9", "10.0.0.9", "10.0.0.9"),  # X-Forwarded-For is whatever the client wrote
    ("not-an-ip", "127.0.0.1", "127.0.0.1"),  # …and was a 500 on PostgreSQL (inet column)
    ("", "not-an-ip", None),
])
def test_history_records_the_peer_address_never_a_forwarded_header(client_for, world, config, owner, forwarded,
                                                                    remote, recorded):
    from configs.models import SystemConfigHistory

    response = client_for(owner).patch(f"/api/configs/{config.pk}/", {"values": {"model": "spoof"}}, format="json",
                                       HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR=remote)
    assert response.status_code == 200, response.content
    assert ConfigHistory.objects.filter(config=config).order_by("-version").first().ip == recorded
    response = client_for(world.superadmin).post(
        "/api/system-configs/", {"key": "batch", "value_type": "int", "value": 1}, format="json",
        HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR=remote)
    assert response.status_code == 201, response.content
    assert SystemConfigHistory.objects.get(key="batch").ip == recorded


def test_a_user_agent_with_control_characters_is_recorded_without_them(client_for, config, owner):
    response = client_for(owner).patch(f"/api/configs/{config.pk}/", {"is_active": False}, format="json",
                                       HTTP_USER_AGENT="bot\x00/1")
    assert response.status_code == 200, response.content
    assert ConfigHistory.objects.filter(config_ref=config.pk).latest("version").user_agent == "bot\ufffd/1"


@pytest.mark.parametrize("method, url, body, path", [
    ("post", "/api/configs/", {"template": "{template}", "key": "nul", "values": {"model": "a\x00"}}, "model"),
    ("patch", "/api/configs/{config}/", {"values": {"model": "gpt\x1b"}}, "model"),
    ("patch", "/api/configs/shop-settings/{shop}/", {"values": {"forbidden_phrases": ["ok", "\x00"]}},
     "forbidden_phrases[1]"),
    ("post", "/api/templates/", {"code": "t", "name": "t", "schema": {"type": "object", "title": "\x00"}},
     "schema.title"),
    ("post", "/api/templates/", {"code": "t", "name": "t", "schema": {"type": "object"}, "defaults": {"k\x00": 1}},
     "defaults.k\ufffd"),
    ("post", "/api/system-configs/", {"key": "a.b", "value_type": "string", "value": "x\x00"}, "value"),
    ("post", "/api/system-configs/", {"key": "a.b", "value_type": "json", "value": {"a": ["\x00"]}}, "value.a[0]"),
])
def test_control_characters_in_json_documents_are_a_400(client_for, world, config, shop_settings_template, method,
                                                         url, body, path):
    # PostgreSQL refuses a NUL in jsonb and text: these were 500s there, and stored as sent on SQLite.
    before = {model: list(model.objects.values()) for model in (UserConfig, ConfigTemplate, SystemConfig)}
    ids = {"template": config.template.pk, "config": config.pk, "shop": world.shop.pk}
    url = url.format(**ids)
    body = json.loads(json.dumps(body).replace('"{template}"', str(ids["template"])))
    response = getattr(client_for(world.superadmin), method)(url, body, format="json")
    detail = assert_error(response, 400, "config_invalid")["detail"]
    assert detail[0]["path"] == path and "U+00" in detail[0]["message"]
    assert before == {model: list(model.objects.values()) for model in (UserConfig, ConfigTemplate, SystemConfig)}


@pytest.mark.parametrize("depth", [100, 900, 100_000])
def test_json_nested_too_deeply_in_a_form_field_is_a_400(client_for, template, owner, depth):
    response = client_for(owner).post("/api/configs/", {"template": template.pk, "key": "deep",
                                                        "values": "[" * depth + "]" * depth}, format="multipart")
    assert assert_error(response, 400, "validation_error")["detail"]["values"]
    assert not UserConfig.objects.filter(key="deep").exists()


def test_a_config_created_already_expired_is_refused(client_for, template, owner):
    from datetime import timedelta

    from django.utils import timezone

    past = (timezone.now() - timedelta(hours=1)).isoformat()
    body = assert_error(client_for(owner).post("/api/configs/", {
        "template": template.pk, "key": "trial", "scope": "temporary", "expires_at": past,
        "values": {"model": "m"}}, format="json"), 400, "config_invalid")
    assert body["detail"][0]["path"] == "expires_at"
    assert not UserConfig.objects.exists()


def test_a_config_switched_off_may_get_an_expiry_in_the_past_in_the_same_patch(client_for, template, owner):
    from datetime import timedelta

    from django.utils import timezone

    config = services.config_create(actor=owner, template=template, user=owner, key="t", scope="temporary",
                                    expires_at=timezone.now() + timedelta(hours=1))
    past = (timezone.now() - timedelta(hours=1)).isoformat()
    response = client_for(owner).patch(f"/api/configs/{config.pk}/", {"expires_at": past, "is_active": False,
                                                                       "version": 1}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["is_active"] is False and response.json()["version"] == 3
    assert_error(client_for(owner).patch(f"/api/configs/{config.pk}/", {"is_active": True}, format="json"), 400,
                 "config_invalid")


@pytest.mark.parametrize("payload", [
    {"is_active": True, "version": 1},
    {"version": 1},
    {"values": {"model": "v2"}, "display_name": "", "version": 1},  # what the config already holds
])
def test_a_patch_changing_nothing_writes_nothing_whatever_its_version(client_for, config, owner, payload):
    services.config_update(config=config, actor=owner, values={"model": "v2"})
    response = client_for(owner).patch(f"/api/configs/{config.pk}/", payload, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2
    assert ConfigHistory.objects.filter(config=config).count() == 2


@pytest.mark.parametrize("payload", [
    {"is_active": False, "version": 1},
    {"values": {"model": "v3"}, "version": 1},
    {"display_name": "renamed", "version": 1},
])
def test_a_patch_changing_something_with_a_stale_version_is_a_conflict(client_for, config, owner, payload):
    services.config_update(config=config, actor=owner, values={"model": "v2"})
    body = assert_error(client_for(owner).patch(f"/api/configs/{config.pk}/", payload, format="json"), 409,
                        "config_version_conflict")
    assert body["detail"] == {"current_version": 2, "expected_version": 1}
    config.refresh_from_db()
    assert (config.version, config.is_active, config.display_name) == (2, True, "")
    assert client_for(owner).patch(f"/api/configs/{config.pk}/", {**payload, "version": 2},
                                   format="json").status_code == 200
    config.refresh_from_db()
    assert config.version == 3


def test_a_refused_patch_changes_nothing_not_even_the_switch_off(client_for, config, owner):
    response = client_for(owner).patch(f"/api/configs/{config.pk}/", {
        "is_active": False, "values": {"model": "m", "temperature": 99}, "version": 1}, format="json")
    assert response.status_code == 400
    config.refresh_from_db()
    assert config.is_active and config.version == 1
