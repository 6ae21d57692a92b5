import json
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from configs import selectors, services
from configs.choices import ConfigScope
from configs.models import ConfigHistory, ConfigTemplate, SystemConfig, UserConfig
from configs.tasks import expire_temporary_configs_task

from .conftest import PROXY_SECRET, SECRET

pytestmark = pytest.mark.django_db


def export(tmp_path, *args) -> tuple[str, dict]:
    path = tmp_path / "configs.json"
    call_command("config_export", "-o", str(path), *args, stderr=StringIO())
    text = path.read_text()
    return str(path), json.loads(text)


@pytest.fixture
def secret_system_config(world):
    return services.system_config_create(actor=world.superadmin, key="smtp.password", value_type="string",
                                         value=PROXY_SECRET, is_encrypted=True)


def test_export_leaves_secrets_out(tmp_path, config, secret_system_config):
    path, data = export(tmp_path)
    text = Path(path).read_text()
    assert SECRET not in text and PROXY_SECRET not in text and "enc1:" not in text
    [row] = [c for c in data["configs"] if c["template"] == config.template.code]
    assert "api_key" not in row["values"] and row["values"]["model"] == "gpt-4o"
    assert [s["value"] for s in data["system_configs"] if s["key"] == "smtp.password"] == [None]


def test_export_with_secrets_keeps_them_encrypted_and_imports_them_back(tmp_path, config, owner,
                                                                         secret_system_config):
    path, _data = export(tmp_path, "--with-secrets")
    text = Path(path).read_text()
    assert SECRET not in text and PROXY_SECRET not in text and "enc1:" in text
    code = config.template.code
    UserConfig.objects.filter(pk=config.pk).delete()
    SystemConfig.objects.filter(key="smtp.password").delete()
    out = StringIO()
    call_command("config_import", path, "--with-secrets", "--actor", owner.username, stdout=out)
    assert "configs created: 1" in out.getvalue()
    values = selectors.config_values_get(template_code=code, user=owner)
    assert values["api_key"] == SECRET and values["proxy"]["password"] == PROXY_SECRET
    assert selectors.system_config_value("smtp.password") == PROXY_SECRET
    new = UserConfig.objects.get(template__code=code, user=owner)
    assert ConfigHistory.objects.get(config=new).reason == "import"


def test_import_with_secrets_needs_a_matching_key(tmp_path, config, owner, settings):
    path, _data = export(tmp_path, "--with-secrets")
    UserConfig.objects.filter(pk=config.pk).delete()
    settings.KEFU_ENCRYPTION_KEYS = "k9:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="
    with pytest.raises(CommandError, match="cannot decrypt"):
        call_command("config_import", path, "--with-secrets", stdout=StringIO())
    assert not UserConfig.objects.filter(template=config.template).exists()


def test_import_without_secrets_keeps_the_secrets_already_here(tmp_path, config, owner):
    path, _data = export(tmp_path, "--with-secrets")
    services.config_update(config=config, actor=owner, values={**config.values, "temperature": 1.9})
    out = StringIO()
    call_command("config_import", path, stdout=out)  # no --with-secrets: file secrets ignored
    assert "configs updated: 1" in out.getvalue()
    values = selectors.config_values_get(template_code=config.template.code, user=owner)
    assert values["temperature"] == 0.2 and values["api_key"] == SECRET
    # A second identical import changes nothing and records nothing.
    before = ConfigHistory.objects.count()
    out = StringIO()
    call_command("config_import", path, stdout=out)
    assert "configs unchanged: 1" in out.getvalue() and ConfigHistory.objects.count() == before


def test_import_is_validated_and_all_or_nothing(tmp_path, config, owner):
    _path, data = export(tmp_path)
    data["configs"][0]["values"]["temperature"] = 99
    data["templates"].append({"code": "extra", "name": "Extra", "schema": {"type": "object"}, "defaults": {}})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(CommandError, match="Nothing imported"):
        call_command("config_import", str(bad), stdout=StringIO())
    assert not ConfigTemplate.objects.filter(code="extra").exists()
    with pytest.raises(CommandError):
        call_command("config_import", str(tmp_path / "missing.json"), stdout=StringIO())
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(CommandError):
        call_command("config_import", str(tmp_path / "junk.json"), stdout=StringIO())


def test_import_dry_run_writes_nothing(tmp_path, config, owner):
    path, _data = export(tmp_path)
    UserConfig.objects.all().delete()
    out = StringIO()
    call_command("config_import", path, "--dry-run", stdout=out)
    assert "Dry run" in out.getvalue() and not UserConfig.objects.exists()


def test_cleanup_expires_deletes_old_temporaries_and_purges_orphaned_history(template, owner):
    now = timezone.now()
    due = services.config_create(actor=owner, template=template, user=owner, key="due",
                                 scope=ConfigScope.TEMPORARY, expires_at=now + timedelta(minutes=1))
    UserConfig.objects.filter(pk=due.pk).update(expires_at=now - timedelta(minutes=1))  # time passes
    ancient = services.config_create(actor=owner, template=template, user=owner, key="ancient",
                                     scope=ConfigScope.TEMPORARY, expires_at=now + timedelta(minutes=1))
    UserConfig.objects.filter(pk=ancient.pk).update(expires_at=now - timedelta(days=40), is_active=False)
    gone = services.config_create(actor=owner, template=template, user=owner, key="gone")
    gone_pk = gone.pk
    services.config_delete(config=gone, actor=owner)
    ConfigHistory.objects.filter(config_ref=gone_pk).update(created_at=now - timedelta(days=400))

    out = StringIO()
    call_command("config_cleanup", "--dry-run", stdout=out)
    assert "Would deactivate 1" in out.getvalue() and UserConfig.objects.get(pk=due.pk).is_active

    out = StringIO()
    call_command("config_cleanup", stdout=out)
    assert "Deactivated 1" in out.getvalue() and "deleted 1 temporary" in out.getvalue()
    assert "deleted 2 history" in out.getvalue()
    assert not UserConfig.objects.get(pk=due.pk).is_active
    assert not UserConfig.objects.filter(pk=ancient.pk).exists()
    assert not ConfigHistory.objects.filter(config_ref=gone_pk).exists()
    assert ConfigHistory.objects.filter(config_ref=ancient.pk, action="delete").exists()  # recent: kept


def test_the_beat_task_expires_temporary_configs(template, owner):
    from kefu.celery import app

    assert app.conf.beat_schedule["configs-expire-temporary-configs"]["task"] == "configs.expire_temporary_configs"
    config = services.config_create(actor=owner, template=template, user=owner, key="t",
                                     scope=ConfigScope.TEMPORARY, expires_at=timezone.now() + timedelta(seconds=60))
    UserConfig.objects.filter(pk=config.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert expire_temporary_configs_task.delay().get() == 1
    config.refresh_from_db()
    assert not config.is_active
    row = ConfigHistory.objects.get(config=config, version=2)
    assert row.action == "deactivate" and row.actor is None and row.reason.startswith("Expired")


def test_rotating_the_key_re_encrypts_config_secrets_without_a_new_version(config, owner, settings,
                                                                          secret_system_config):
    masked = selectors.config_masked_values(config=config)
    services.config_update(config=config, actor=owner, values={**masked, "model": "v2"})
    old_keys = settings.KEFU_ENCRYPTION_KEYS
    new_key = "k7:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="
    settings.KEFU_ENCRYPTION_KEYS = f"{new_key},{old_keys}"
    out = StringIO()
    call_command("config_rotate_secrets", stdout=out)
    # 2 secrets in the config; 4 in its two history snapshots + 1 in the system config's history.
    assert "configs: 2, history: 5, system configs: 1" in out.getvalue()
    settings.KEFU_ENCRYPTION_KEYS = new_key  # the old keys are gone
    config.refresh_from_db()
    assert config.version == 2 and ConfigHistory.objects.filter(config=config).count() == 2
    assert config.values["api_key"].startswith("enc1:k7:")
    values = selectors.config_values_get(template_code=config.template.code, user=owner)
    assert values["api_key"] == SECRET and values["proxy"]["password"] == PROXY_SECRET
    assert selectors.system_config_value("smtp.password") == PROXY_SECRET
    # The same secret re-encrypted in two snapshots is not reported as a change…
    assert [d["path"] for d in selectors.config_versions_diff(config=config, from_version=1, to_version=2)] == [
        "model"]
    # …and rolling back still restores it.
    services.config_rollback(config=config, version=1, actor=owner)
    assert selectors.config_values_get(template_code=config.template.code, user=owner)["api_key"] == SECRET
    out = StringIO()
    call_command("config_rotate_secrets", "--dry-run", stdout=out)
    assert "configs: 0, history: 0, system configs: 0" in out.getvalue()


def test_rotate_encryption_key_also_rotates_secrets_inside_config_documents(config, owner, settings):
    new_key = "k8:" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="
    settings.KEFU_ENCRYPTION_KEYS = f"{new_key},{settings.KEFU_ENCRYPTION_KEYS}"
    out = StringIO()
    call_command("rotate_encryption_key", "--no-progress", stdout=out)
    assert "configs secrets inside documents — configs: 2" in out.getvalue()
    settings.KEFU_ENCRYPTION_KEYS = new_key
    config.refresh_from_db()
    assert config.values["api_key"].startswith("enc1:k8:")
    assert selectors.config_values_get(template_code=config.template.code, user=owner)["api_key"] == SECRET


def _mutated(data: dict, mutate: str) -> dict:
    if mutate == "template-without-code":
        del data["templates"][0]["code"]
    elif mutate == "unknown-template":
        data["configs"][0]["template"] = "nope"
    elif mutate == "unknown-category":
        data["templates"][0]["category"] = "nope"
    elif mutate == "unknown-parent":
        data["categories"][0]["parent"] = "ghost"
    elif mutate == "date-not-iso":
        data["configs"][0]["expires_at"] = "tomorrow"
    elif mutate == "owner-not-object":
        data["configs"][0]["owner"] = "owner"
    elif mutate == "config-without-template":
        del data["configs"][0]["template"]
    elif mutate == "row-not-object":
        data["configs"][0] = "config"
    elif mutate == "section-not-list":
        data["templates"] = {"code": "x"}
    elif mutate == "system-config-without-key":
        del data["system_configs"][0]["key"]
    return data


@pytest.mark.parametrize("mutate, entry", [
    ("template-without-code", "templates[0]"), ("unknown-template", "configs[0]"),
    ("unknown-category", "templates[0]"), ("unknown-parent", "categories[0]"), ("date-not-iso", "configs[0]"),
    ("owner-not-object", "configs[0]"), ("config-without-template", "configs[0]"), ("row-not-object", "configs[0]"),
    ("section-not-list", "templates"), ("system-config-without-key", "system_configs[0]"),
])
def test_a_malformed_import_file_is_refused_naming_the_entry(tmp_path, config, world, mutate, entry):
    services.system_config_create(actor=world.superadmin, key="batch", value_type="int", value=3)
    _path, data = export(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_mutated(data, mutate)))
    before = ConfigHistory.objects.count()
    with pytest.raises(CommandError, match=r"Nothing imported: " + entry.replace("[", r"\[").replace("]", r"\]")):
        call_command("config_import", str(bad), stdout=StringIO())
    assert ConfigHistory.objects.count() == before


def test_an_import_reads_a_time_without_offset_as_utc_and_a_second_run_changes_nothing(tmp_path, config, world):
    import datetime as dt
    import warnings

    from configs.models import SystemConfigHistory

    services.system_config_create(actor=world.superadmin, key="batch", value_type="int", value=3)
    services.system_config_create(actor=world.superadmin, key="pw", value_type="string", value="s3cret-value-x",
                                  is_encrypted=True)
    _path, data = export(tmp_path)
    row = next(c for c in data["configs"] if c["template"] == config.template.code)
    row.update(scope="session", expires_at="2030-01-01T08:00:00")  # hand-edited, no offset
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "naive datetime" RuntimeWarning
        out = StringIO()
        call_command("config_import", str(path), stdout=out)
    assert "configs updated: 1" in out.getvalue()
    config.refresh_from_db()
    assert config.expires_at == dt.datetime(2030, 1, 1, 8, 0, tzinfo=dt.UTC)
    versions, history = config.version, ConfigHistory.objects.count()
    system_history = SystemConfigHistory.objects.count()
    for _ in range(2):
        out = StringIO()
        call_command("config_import", str(path), stdout=out)
        assert "configs unchanged: 1" in out.getvalue()
    config.refresh_from_db()
    assert config.version == versions and ConfigHistory.objects.count() == history
    assert SystemConfigHistory.objects.count() == system_history
    assert set(SystemConfig.objects.values_list("version", flat=True)) == {1}


def test_a_config_that_expired_since_its_export_is_imported_switched_off(tmp_path, template, owner):
    config = services.config_create(actor=owner, template=template, user=owner, key="trial",
                                    scope=ConfigScope.TEMPORARY, expires_at=timezone.now() + timedelta(hours=1))
    _path, data = export(tmp_path)
    UserConfig.objects.filter(pk=config.pk).delete()
    row = next(c for c in data["configs"] if c["key"] == "trial")
    row["expires_at"] = (timezone.now() - timedelta(minutes=1)).isoformat()
    path = tmp_path / "expired.json"
    path.write_text(json.dumps(data))
    call_command("config_import", str(path), stdout=StringIO())
    assert not UserConfig.objects.get(key="trial").is_active


@pytest.mark.parametrize("category", [{"code": "bad code!", "name": "x"}, {"code": "ok", "name": "x" * 101},
                                      {"code": "ok", "name": "x", "sort_order": "first"}])
def test_an_invalid_category_in_an_import_is_refused_naming_it(tmp_path, config, category):
    _path, data = export(tmp_path)
    data["categories"].append(category)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(CommandError, match=r"Nothing imported: categories\[\d\]"):
        call_command("config_import", str(bad), stdout=StringIO())


def test_an_import_names_every_bad_entry_and_imports_nothing(tmp_path, config, world):
    services.system_config_create(actor=world.superadmin, key="batch", value_type="int", value=3)
    _path, data = export(tmp_path)
    UserConfig.objects.all().delete()
    data["templates"][0]["category"] = "nope"
    data["configs"][0]["expires_at"] = "tomorrow"
    data["system_configs"][0]["value"] = "many"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    err = StringIO()
    with pytest.raises(CommandError, match=r"Nothing imported: templates\[0\] .*\(2 more problem\(s\) in 3 row\(s\)"):
        call_command("config_import", str(bad), stdout=StringIO(), stderr=err)
    assert [line.split(" ")[0] for line in err.getvalue().splitlines()] == ["configs[0]", "system_configs[0]"]
    assert not UserConfig.objects.exists()
