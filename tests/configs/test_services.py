import json
import logging
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from configs import cache as config_cache
from configs import selectors, services
from configs.choices import ConfigScope, HistoryAction
from configs.exceptions import ConfigConflict, ConfigNotFound, ConfigValidationError
from configs.models import ConfigHistory, UserConfig
from kefu import crypto
from tests.accounts.factories import UserFactory

from .conftest import PROXY_SECRET, SECRET
from .factories import ConfigTemplateFactory

pytestmark = pytest.mark.django_db


def raw_rows(table: str) -> str:
    """Everything a table holds, as the database has it: no model, no decryption."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - fixed table names
        return json.dumps(cursor.fetchall(), default=str, ensure_ascii=False)


def test_create_fills_defaults_encrypts_secrets_and_records_version_1(config):
    assert config.version == 1
    assert config.values["max_tokens"] == 1024  # schema default
    assert config.values["prompts"] == []
    assert config.values["proxy"]["url"] == ""
    assert sorted(config.encrypted_paths) == ["api_key", "proxy.password"]
    assert crypto.is_ciphertext(config.values["api_key"])
    assert crypto.is_ciphertext(config.values["proxy"]["password"])
    [row] = ConfigHistory.objects.filter(config=config)
    assert (row.action, row.version, row.old_values) == (HistoryAction.CREATE, 1, None)
    assert row.new_values["model"] == "gpt-4o"
    assert row.new_values["api_key"] == crypto.mask_secret(SECRET)
    assert (row.reason, row.ip, row.user_agent) == ("first", "10.0.0.1", "pytest")


def test_values_violating_the_schema_are_refused_and_nothing_is_stored(template, owner, config):
    before_configs, before_history = UserConfig.objects.count(), ConfigHistory.objects.count()
    for bad in ({"model": "x", "temperature": 5}, {"model": "", "temperature": 1}, {"unknown": 1}, [1, 2], "text"):
        with pytest.raises(ConfigValidationError) as exc:
            services.config_create(actor=owner, template=template, user=owner, key="other", values=bad)
        assert exc.value.detail
    with pytest.raises(ConfigValidationError) as exc:
        services.config_update(config=config, actor=owner, values={"model": "x", "temperature": -1})
    assert exc.value.detail[0]["path"] == "temperature"
    config.refresh_from_db()
    assert config.version == 1 and config.values["temperature"] == 0.2
    assert (UserConfig.objects.count(), ConfigHistory.objects.count()) == (before_configs, before_history)


def test_an_invalid_secret_is_refused_without_quoting_it(template, owner):
    with pytest.raises(ConfigValidationError) as exc:
        services.config_create(actor=owner, template=template, user=owner, values={"api_key": "short1"})
    assert "short1" not in json.dumps(exc.value.detail) + exc.value.message
    assert exc.value.detail[0]["path"] == "api_key"


def test_each_update_writes_exactly_one_history_row_with_old_and_new(config, owner):
    services.config_update(config=config, actor=owner, values={**config.values, "temperature": 0.9}, reason="warmer")
    services.config_update(config=config, actor=owner, values={**config.values, "model": "qwen-max"})
    rows = list(ConfigHistory.objects.filter(config=config).order_by("version"))
    assert [(r.action, r.version) for r in rows] == [("create", 1), ("update", 2), ("update", 3)]
    assert (rows[1].old_values["temperature"], rows[1].new_values["temperature"]) == (0.2, 0.9)
    assert (rows[2].old_values["model"], rows[2].new_values["model"]) == ("gpt-4o", "qwen-max")
    assert rows[1].reason == "warmer"
    config.refresh_from_db()
    assert config.version == 3


def test_a_secret_is_never_in_clear_in_the_database_history_or_logs(config, owner, caplog):
    caplog.set_level(logging.DEBUG)
    services.config_update(config=config, actor=owner, values={**config.values, "api_key": SECRET + "-new"})
    services.config_rollback(config=config, version=1, actor=owner)
    for table in ("configs_userconfig", "configs_confighistory"):
        dump = raw_rows(table)
        assert SECRET not in dump and PROXY_SECRET not in dump
        assert "THISISTHESECRET" not in dump
    assert SECRET not in caplog.text and "THISISTHESECRET" not in caplog.text
    # …while the code that needs it reads it in clear.
    values = selectors.config_values_get(template_code=config.template.code, user=owner)
    assert values["api_key"] == SECRET
    assert values["proxy"]["password"] == PROXY_SECRET


def test_a_secret_sent_back_masked_or_left_out_is_kept(config, owner):
    masked = selectors.config_masked_values(config=config)
    assert masked["api_key"] == crypto.mask_secret(SECRET)
    services.config_update(config=config, actor=owner, values={**masked, "temperature": 1.0})
    without = {k: v for k, v in masked.items() if k != "api_key"}
    services.config_update(config=config, actor=owner, values=without)
    values = selectors.config_values_get(template_code=config.template.code, user=owner)
    assert values["api_key"] == SECRET and values["proxy"]["password"] == PROXY_SECRET
    assert values["temperature"] == 0.2  # ``without`` carries v1's 0.2


def test_an_unchanged_secret_keeps_its_ciphertext(config, owner):
    before = config.values["api_key"]
    services.config_update(config=config, actor=owner, values={**config.values, "temperature": 1.5})
    assert config.values["api_key"] == before


def test_rollback_restores_exactly_version_k_as_a_new_version(config, owner):
    v1 = dict(config.values)
    services.config_update(config=config, actor=owner, values={**config.values, "temperature": 0.9,
                                                                "api_key": "sk-second-secret-000"})
    v2 = dict(config.values)
    services.config_update(config=config, actor=owner, values={**config.values, "model": "qwen-max",
                                                                "prompts": ["你好"]})
    services.config_rollback(config=config, version=1, actor=owner, reason="bad prompt")
    config.refresh_from_db()
    assert config.version == 4
    assert config.values == v1
    assert selectors.config_values_get(template_code=config.template.code, user=owner)["api_key"] == SECRET
    last = ConfigHistory.objects.filter(config=config).order_by("-version").first()
    assert (last.action, last.version, last.reason) == (HistoryAction.ROLLBACK, 4, "bad prompt")
    assert last.old_values["model"] == "qwen-max" and last.new_values["model"] == "gpt-4o"
    services.config_rollback(config=config, version=2, actor=owner)
    config.refresh_from_db()
    assert config.values == v2 and config.version == 5
    assert ConfigHistory.objects.filter(config=config).count() == 5


def test_rollback_to_an_unknown_version_is_refused(config, owner):
    with pytest.raises(ConfigNotFound):
        services.config_rollback(config=config, version=7, actor=owner)


def test_a_stale_version_is_refused_with_a_conflict_and_the_first_change_stays(config, owner):
    first = UserConfig.objects.get(pk=config.pk)
    second = UserConfig.objects.get(pk=config.pk)
    services.config_update(config=first, actor=owner, values={**first.values, "temperature": 0.5})
    with pytest.raises(ConfigConflict) as exc:
        services.config_update(config=second, actor=owner, values={**second.values, "temperature": 1.5})
    assert exc.value.status_code == 409 and exc.value.detail == {"current_version": 2, "expected_version": 1}
    with pytest.raises(ConfigConflict):
        services.config_update(config=first, actor=owner, values=first.values, expected_version=1)
    config.refresh_from_db()
    assert (config.version, config.values["temperature"]) == (2, 0.5)
    assert ConfigHistory.objects.filter(config=config).count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_updates_one_wins_the_other_gets_a_conflict(template, owner):
    config = services.config_create(actor=owner, template=template, user=owner, values={"model": "m"})
    barrier, outcomes = threading.Barrier(2), []

    def edit(temperature):
        try:
            mine = UserConfig.objects.select_related("template").get(pk=config.pk)
            barrier.wait(5)
            services.config_update(config=mine, actor=owner, values={**mine.values, "temperature": temperature})
            outcomes.append(("ok", temperature))
        except ConfigConflict:
            outcomes.append(("conflict", temperature))
        finally:
            connection.close()

    threads = [threading.Thread(target=edit, args=(t,)) for t in (0.3, 1.3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(kind for kind, _ in outcomes) == ["conflict", "ok"]
    winner = next(t for kind, t in outcomes if kind == "ok")
    config.refresh_from_db()
    assert (config.version, config.values["temperature"]) == (2, winner)
    assert list(ConfigHistory.objects.filter(config_ref=config.pk).values_list("version", flat=True)
                .order_by("version")) == [1, 2]


def test_activate_deactivate_and_delete_are_versioned_and_recorded(config, owner):
    services.config_set_active(config=config, actor=owner, active=False, reason="pause")
    assert selectors.config_values_get(template_code=config.template.code, user=owner, default=None) is None
    services.config_set_active(config=config, actor=owner, active=True)
    pk = config.pk
    services.config_delete(config=config, actor=owner, reason="gone")
    assert not UserConfig.objects.filter(pk=pk).exists()
    rows = list(ConfigHistory.objects.filter(config_ref=pk).order_by("version"))
    assert [(r.action, r.version) for r in rows] == [
        ("create", 1), ("deactivate", 2), ("activate", 3), ("delete", 4)]
    assert all(r.config_id is None for r in rows)  # orphaned: kept for audit until config_cleanup
    assert rows[-1].new_values is None and rows[-1].old_values["model"] == "gpt-4o"


def test_temporary_configs_expire_and_the_expiry_is_recorded(template, owner):
    soon = timezone.now() + timedelta(minutes=5)
    temp = services.config_create(actor=owner, template=template, user=owner, key="trial",
                                  scope=ConfigScope.TEMPORARY, expires_at=soon, values={"model": "t"})
    assert services.config_expire_due() == 0
    assert services.config_expire_due(now=soon + timedelta(seconds=1)) == 1
    temp.refresh_from_db()
    assert not temp.is_active and temp.version == 2
    assert ConfigHistory.objects.get(config=temp, version=2).action == HistoryAction.DEACTIVATE
    assert services.config_expire_due(now=soon + timedelta(hours=1)) == 0


def test_scope_rules(template, owner):
    with pytest.raises(ConfigValidationError, match="expiry"):
        services.config_create(actor=owner, template=template, user=owner, key="t", scope=ConfigScope.TEMPORARY)
    with pytest.raises(ConfigValidationError):
        services.config_create(actor=owner, template=template, user=owner, key="g",
                               expires_at=timezone.now())


def test_one_config_per_user_template_and_key(config, template, owner):
    with pytest.raises(ConfigValidationError, match="already has"):
        services.config_create(actor=owner, template=template, user=owner, values={"model": "x"})
    other = UserFactory()
    services.config_create(actor=other, template=template, user=other, values={"model": "x"})


def test_a_bad_template_schema_or_defaults_is_refused(owner):
    with pytest.raises(ConfigValidationError):
        services.template_create(actor=owner, code="bad", name="bad", schema={"type": "object",
                                                                              "properties": {"a": {"type": "nope"}}})
    with pytest.raises(ConfigValidationError):
        services.template_create(actor=owner, code="bad2", name="bad", schema={"type": "array"})
    with pytest.raises(ConfigValidationError):
        services.template_create(actor=owner, code="bad3", name="bad",
                                 schema={"type": "object", "properties": {"n": {"type": "integer"}}},
                                 defaults={"n": "x"})


@pytest.mark.django_db(transaction=True)  # outside a transaction, so that the read below is really cached
def test_template_change_bumps_its_version_and_new_defaults_reach_readers(config, owner):
    template = config.template
    selectors.config_values_get(template_code=template.code, user=owner)  # warm the cache
    assert config_cache.peek(config_cache.config_key(config)) is not None
    schema = {**template.schema, "properties": {**template.schema["properties"],
                                                "top_p": {"type": "number", "default": 0.8}}}
    services.template_update(template=template, actor=owner, schema=schema)
    assert template.version == 2
    assert selectors.config_values_get(template_code=template.code, user=owner)["top_p"] == 0.8


def test_template_defaults_fill_under_user_values(owner):
    template = ConfigTemplateFactory(defaults={"model": "from-template", "max_tokens": 99})
    config = services.config_create(actor=owner, template=template, user=owner, values={"temperature": 1})
    assert (config.values["model"], config.values["max_tokens"]) == ("from-template", 99)


def test_no_validation_message_quotes_a_secret_even_on_its_parent_object(owner):
    template = ConfigTemplateFactory(schema={
        "type": "object",
        "properties": {
            "auth": {"type": "object", "maxProperties": 1,
                     "properties": {"token": {"type": "string", "writeOnly": True}, "user": {"type": "string"}}},
            "mode": {"anyOf": [{"type": "integer"}, {"const": "x"}]},
        },
    })
    with pytest.raises(ConfigValidationError) as exc:
        services.config_create(actor=owner, template=template, user=owner,
                               values={"auth": {"token": "tok-'secret'-VALUE", "user": "bob"}, "mode": "y"})
    text = json.dumps(exc.value.detail, ensure_ascii=False) + exc.value.message
    assert "secret'-VALUE" not in text and "secret\\'-VALUE" not in text
    assert {d["path"] for d in exc.value.detail} == {"auth", "mode"}
    assert "***" in text


@pytest.mark.django_db(transaction=True)
def test_an_expired_config_is_not_served_even_from_the_cache(template, owner, time_machine):
    """Between its expiry and the beat task's next run, a temporary config reads as inactive."""
    time_machine.move_to(timezone.now())
    services.config_create(actor=owner, template=template, user=owner, key="trial", scope=ConfigScope.TEMPORARY,
                           expires_at=timezone.now() + timedelta(minutes=1), values={"model": "temporary"})
    assert selectors.config_values_get(template_code=template.code, user=owner, key="trial")["model"] == "temporary"
    time_machine.shift(timedelta(seconds=59))
    assert selectors.config_values_get(template_code=template.code, user=owner, key="trial")["model"] == "temporary"
    time_machine.shift(timedelta(seconds=2))
    assert selectors.config_values_get(template_code=template.code, user=owner, key="trial", default=None) is None
    assert selectors.config_values_get(template_code=template.code, user=owner, key="trial")["model"] == (
        "deepseek-chat")  # the template's defaults, as for an inactive config


def test_an_active_config_cannot_get_an_expiry_in_the_past(template, owner):
    past = timezone.now() - timedelta(minutes=1)
    with pytest.raises(ConfigValidationError, match="past") as exc:
        services.config_create(actor=owner, template=template, user=owner, key="t", scope=ConfigScope.TEMPORARY,
                               expires_at=past)
    assert exc.value.detail[0]["path"] == "expires_at"
    config = services.config_create(actor=owner, template=template, user=owner, key="t",
                                    scope=ConfigScope.TEMPORARY, expires_at=timezone.now() + timedelta(hours=1))
    with pytest.raises(ConfigValidationError, match="past"):
        services.config_update(config=config, actor=owner, expires_at=past)
    # Inactive, it harms nothing (an import of a config that expired meanwhile); it cannot be switched back on.
    services.config_create(actor=owner, template=template, user=owner, key="old", scope=ConfigScope.TEMPORARY,
                           expires_at=past, is_active=False)
    UserConfig.objects.filter(pk=config.pk).update(expires_at=past, is_active=False)
    config.refresh_from_db()
    with pytest.raises(ConfigValidationError, match="expired"):
        services.config_set_active(config=config, actor=owner, active=True)
    assert not UserConfig.objects.get(pk=config.pk).is_active


def test_a_system_config_saved_unchanged_gets_no_new_version(world):
    from configs.models import SystemConfigHistory

    config = services.system_config_create(actor=world.superadmin, key="batch", value_type="int", value=3)
    secret = services.system_config_create(actor=world.superadmin, key="pw", value_type="string",
                                           value=PROXY_SECRET, is_encrypted=True)
    services.system_config_update(config=config, actor=world.superadmin, value="3")
    services.system_config_update(config=secret, actor=world.superadmin, value=PROXY_SECRET)
    assert (config.version, secret.version, SystemConfigHistory.objects.count()) == (1, 1, 2)
    with pytest.raises(ConfigConflict):
        services.system_config_update(config=config, actor=world.superadmin, value=4, expected_version=7)
    with pytest.raises(ConfigConflict):  # unchanged, but the caller edited an older version
        services.system_config_update(config=config, actor=world.superadmin, value=3, expected_version=7)


def test_expiry_messages_give_the_time_in_shanghai_not_utc(template, owner):
    from datetime import UTC, datetime

    past = datetime(2020, 1, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    with pytest.raises(ConfigValidationError) as exc:
        services.config_create(actor=owner, template=template, user=owner, key="t", scope=ConfigScope.TEMPORARY,
                               expires_at=past)
    assert "2020-01-01 10:00:00+08:00" in exc.value.message
    config = services.config_create(actor=owner, template=template, user=owner, key="t",
                                    scope=ConfigScope.TEMPORARY, expires_at=past, is_active=False)
    with pytest.raises(ConfigValidationError) as exc:
        services.config_set_active(config=config, actor=owner, active=True)
    assert "2020-01-01 10:00:00+08:00" in exc.value.message
    live = services.config_create(actor=owner, template=template, user=owner, key="live",
                                  scope=ConfigScope.TEMPORARY, expires_at=timezone.now() + timedelta(hours=1))
    UserConfig.objects.filter(pk=live.pk).update(expires_at=past)
    assert services.config_expire_due() == 1
    assert "2020-01-01 10:00:00+08:00" in ConfigHistory.objects.filter(config_ref=live.pk).first().reason


def test_a_system_value_saved_before_the_control_character_rule_does_not_block_other_edits(world):
    from configs.models import SystemConfig

    config = services.system_config_create(actor=world.superadmin, key="greeting", value_type="string", value="hi")
    SystemConfig.objects.filter(pk=config.pk).update(value="hi\x07there")
    config.refresh_from_db()
    services.system_config_update(config=config, actor=world.superadmin, description="what buyers see first")
    services.system_config_update(config=config, actor=world.superadmin, value="hi\x07there", is_public=True)
    config.refresh_from_db()
    assert (config.description, config.is_public, config.value) == ("what buyers see first", True, "hi\x07there")
    # A new value is still checked.
    with pytest.raises(ConfigValidationError, match="U\\+0007"):
        services.system_config_update(config=config, actor=world.superadmin, value="bye\x07")
