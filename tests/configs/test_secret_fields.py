"""A field's secrecy follows the template as it is now, whatever the config stored when it was written."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from configs import selectors, services
from configs.exceptions import ConfigValidationError
from configs.models import ConfigHistory, UserConfig
from kefu import crypto

from .conftest import SECRET
from .test_services import raw_rows

pytestmark = pytest.mark.django_db

PLAIN = {"type": "object", "properties": {"model": {"type": "string"}, "api_key": {"type": "string"},
                                          "proxy": {"type": "object", "properties": {"password": {"type": "string"}}}}}
SECRET_API_KEY = {**PLAIN, "properties": {**PLAIN["properties"], "api_key": {"type": "string", "writeOnly": True}}}


def everything_shown(client, admin_client, config, tmp_path) -> str:
    """Every place a person or a file sees the config: API, admin, history, diff, export without secrets."""
    texts = [client.get(url).content.decode() for url in (
        f"/api/configs/{config.pk}/", "/api/configs/", f"/api/configs/{config.pk}/history/",
        f"/api/configs/{config.pk}/diff/?from=1&to=2")]
    texts += [admin_client.get(url).content.decode() for url in (
        reverse("admin:configs_userconfig_change", args=[config.pk]),
        reverse("admin:configs_userconfig_versions", args=[config.pk]) + "?a=1&b=2",
        reverse("admin:configs_confighistory_changelist"),
        *[reverse("admin:configs_confighistory_change", args=[pk])
          for pk in ConfigHistory.objects.filter(config_ref=config.pk).values_list("pk", flat=True)])]
    path = tmp_path / "export.json"
    call_command("config_export", "-o", str(path), stderr=StringIO())
    texts.append(path.read_text())
    call_command("config_export", "-o", str(path), "--with-secrets", stderr=StringIO())
    texts.append(path.read_text())
    return "\n".join(texts)


@pytest.fixture
def plain_config(world):
    template = services.template_create(actor=world.superadmin, code="late", name="late", schema=PLAIN)
    config = services.config_create(actor=world.superadmin, template=template, user=world.superadmin,
                                    values={"model": "m", "api_key": SECRET})
    services.config_update(config=config, actor=world.superadmin,
                           values={"model": "m2", "api_key": SECRET + "-v2"})
    return config


def test_marking_a_field_secret_encrypts_it_in_existing_configs_and_their_history(
        world, client_for, plain_config, tmp_path):
    template = plain_config.template
    services.template_update(template=template, actor=world.superadmin, schema=SECRET_API_KEY)

    plain_config.refresh_from_db()
    assert plain_config.encrypted_paths == ["api_key"] and plain_config.version == 2
    assert crypto.is_ciphertext(plain_config.values["api_key"])
    for table in ("configs_userconfig", "configs_confighistory"):
        assert "THISISTHESECRET" not in raw_rows(table), table
    admin_client = Client()
    admin_client.force_login(world.superadmin)
    shown = everything_shown(client_for(world.superadmin), admin_client, plain_config, tmp_path)
    assert "THISISTHESECRET" not in shown
    assert crypto.mask_secret(SECRET + "-v2") in shown  # shown masked, like any secret
    # The code that uses it still reads it, and rolling back restores the older secret, encrypted.
    assert selectors.config_values_get(template_code=template.code, user=world.superadmin)["api_key"] == SECRET + "-v2"
    services.config_rollback(config=plain_config, version=1, actor=world.superadmin)
    plain_config.refresh_from_db()
    assert plain_config.encrypted_paths == ["api_key"] and crypto.is_ciphertext(plain_config.values["api_key"])
    assert selectors.config_values_get(template_code=template.code, user=world.superadmin)["api_key"] == SECRET
    assert "THISISTHESECRET" not in raw_rows("configs_confighistory")


def test_a_clear_value_stored_at_a_secret_path_is_never_shown(world, client_for, plain_config, tmp_path):
    """A row holding a secret in clear (written before the fix, or by a write racing the template change) is masked."""
    template = plain_config.template
    services.template_update(template=template, actor=world.superadmin, schema=SECRET_API_KEY)
    UserConfig.objects.filter(pk=plain_config.pk).update(
        values={**plain_config.values, "api_key": SECRET}, encrypted_paths=[])
    plain_config.refresh_from_db()
    assert selectors.config_masked_values(config=plain_config)["api_key"] != SECRET
    text = "\n".join(client_for(world.superadmin).get(url).content.decode() for url in (
        f"/api/configs/{plain_config.pk}/", "/api/configs/"))
    assert "THISISTHESECRET" not in text
    path = tmp_path / "export.json"
    call_command("config_export", "-o", str(path), stderr=StringIO())
    assert "THISISTHESECRET" not in path.read_text()
    # The next write encrypts it, as does a rollback to a version whose snapshot holds it in clear.
    ConfigHistory.objects.filter(config_ref=plain_config.pk, version=1).update(
        snapshot={"model": "m", "api_key": SECRET})
    services.config_rollback(config=plain_config, version=1, actor=world.superadmin)
    plain_config.refresh_from_db()
    assert crypto.is_ciphertext(plain_config.values["api_key"]) and plain_config.encrypted_paths == ["api_key"]
    assert "THISISTHESECRET" not in raw_rows("configs_userconfig")


def test_rotating_secrets_also_encrypts_secrets_left_in_clear(world, plain_config):
    """Data written before templates re-encrypted new secret fields is repaired by config_rotate_secrets."""
    template = plain_config.template
    services.template_update(template=template, actor=world.superadmin, schema=SECRET_API_KEY)
    UserConfig.objects.filter(pk=plain_config.pk).update(
        values={**plain_config.values, "api_key": SECRET}, encrypted_paths=[])
    ConfigHistory.objects.filter(config_ref=plain_config.pk).update(
        old_values={"api_key": SECRET}, new_values={"api_key": SECRET}, snapshot={"model": "m", "api_key": SECRET})
    out = StringIO()
    call_command("config_rotate_secrets", "--dry-run", stdout=out)
    assert "clear secrets: 3" in out.getvalue() and "THISISTHESECRET" in raw_rows("configs_userconfig")
    call_command("config_rotate_secrets", stdout=StringIO())
    for table in ("configs_userconfig", "configs_confighistory"):
        assert "THISISTHESECRET" not in raw_rows(table), table
    assert selectors.config_values_get(template_code=template.code, user=world.superadmin)["api_key"] == SECRET


def test_a_field_holding_non_text_cannot_become_secret(world, plain_config):
    schema = {**PLAIN, "properties": {**PLAIN["properties"], "model": {"type": ["string", "integer"]}}}
    template = plain_config.template
    services.template_update(template=template, actor=world.superadmin, schema=schema)
    services.config_update(config=plain_config, actor=world.superadmin, values={"model": 42, "api_key": SECRET})
    with pytest.raises(ConfigValidationError, match="model"):
        services.template_update(template=template, actor=world.superadmin, schema={
            **schema, "properties": {**schema["properties"], "model": {"type": "string", "writeOnly": True}}})
    template.refresh_from_db()
    plain_config.refresh_from_db()
    assert template.secret_paths() == [] and plain_config.values["model"] == 42


def test_a_field_no_longer_secret_keeps_each_configs_secret_until_a_new_value_is_typed(owner, client_for, config):
    """Dropping writeOnly neither reveals the secrets configs hold nor destroys them on a masked round trip."""
    template = config.template
    schema = json.loads(json.dumps(template.schema))
    schema["properties"]["api_key"].pop("writeOnly")
    services.template_update(template=template, actor=owner, schema=schema)
    client = client_for(owner)
    body = client.get(f"/api/configs/{config.pk}/").json()
    assert body["values"]["api_key"] == crypto.mask_secret(SECRET)

    # The masked document sent back, the field left out or sent empty: the secret stays, encrypted.
    for values in (body["values"], {k: v for k, v in body["values"].items() if k != "api_key"},
                   {**body["values"], "api_key": ""}):
        response = client.put(f"/api/configs/{config.pk}/", {"values": values}, format="json")
        assert response.status_code == 200, response.content
        assert selectors.config_values_get(template_code=template.code, user=owner)["api_key"] == SECRET
    config.refresh_from_db()
    assert "api_key" in config.encrypted_paths and crypto.is_ciphertext(config.values["api_key"])
    assert "THISISTHESECRET" not in raw_rows("configs_userconfig") + raw_rows("configs_confighistory")

    # A value typed now is what the template says it is: plain.
    response = client.put(f"/api/configs/{config.pk}/", {"values": {**body["values"], "api_key": "plain-now-1"}},
                          format="json")
    assert response.json()["values"]["api_key"] == "plain-now-1"
    config.refresh_from_db()
    assert config.encrypted_paths == ["proxy.password"]

    # Rolling back to a version that held the secret restores it encrypted and masked.
    services.config_rollback(config=config, version=1, actor=owner)
    config.refresh_from_db()
    assert "api_key" in config.encrypted_paths and crypto.is_ciphertext(config.values["api_key"])
    assert client.get(f"/api/configs/{config.pk}/").json()["values"]["api_key"] == crypto.mask_secret(SECRET)
    assert selectors.config_values_get(template_code=template.code, user=owner)["api_key"] == SECRET
    for url in (f"/api/configs/{config.pk}/history/", f"/api/configs/{config.pk}/diff/?from=1&to=5"):
        assert "THISISTHESECRET" not in client.get(url).content.decode()


def test_a_system_config_made_secret_is_encrypted_in_its_history_too(world, client_for):
    from configs.models import SystemConfigHistory

    config = services.system_config_create(actor=world.superadmin, key="smtp.password", value_type="string",
                                           value=SECRET)
    services.system_config_update(config=config, actor=world.superadmin, description="the mail password")
    services.system_config_update(config=config, actor=world.superadmin, is_encrypted=True)
    assert "THISISTHESECRET" not in raw_rows("configs_systemconfig") + raw_rows("configs_systemconfighistory")
    text = client_for(world.superadmin).get("/api/system-configs/smtp.password/history/").content.decode()
    assert "THISISTHESECRET" not in text and crypto.mask_secret(SECRET) in text
    # A rollback to a version from before keeps it a secret, and its value.
    services.system_config_rollback(config=config, version=1, actor=world.superadmin)
    assert config.is_encrypted and selectors.system_config_value("smtp.password") == SECRET
    assert "THISISTHESECRET" not in raw_rows("configs_systemconfighistory")
    assert SystemConfigHistory.objects.filter(is_encrypted=False).count() == 0
