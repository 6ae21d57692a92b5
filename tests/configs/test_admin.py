import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from configs import selectors, services
from configs.choices import ConfigScope
from configs.exceptions import ConfigValidationError
from configs.models import ConfigHistory, UserConfig

from .conftest import PROXY_SECRET, SECRET

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def change_url(config):
    return reverse("admin:configs_userconfig_change", args=[config.pk])


def change_post(config, values, **extra):
    return {
        "display_name": config.display_name,
        "values": json.dumps(values, ensure_ascii=False),
        "scope": config.scope,
        "expires_at_0": "",
        "expires_at_1": "",
        "is_active": "on" if config.is_active else "",
        "reason": "admin edit",
        "expected_version": config.version,
        **extra,
    }


@pytest.fixture
def root_config(world, template):
    return services.config_create(
        actor=world.superadmin, template=template, user=world.superadmin,
        values={"model": "gpt-4o", "temperature": 0.2, "api_key": SECRET, "proxy": {"password": PROXY_SECRET}},
    )


def test_the_change_form_is_generated_from_the_schema_and_masks_secrets(world, root_config):
    response = signed_in(world.superadmin).get(change_url(root_config))
    html = response.content.decode()
    assert response.status_code == 200
    assert "django_jsonform" in html and "data-django-jsonform" in html  # the schema editor, not a textarea
    assert '\\"temperature\\"' in html or "&quot;temperature&quot;" in html  # the schema reached the widget
    assert SECRET not in html and PROXY_SECRET not in html and "THISISTHESECRET" not in html
    assert "sk-\\u2026" in html or "sk-…" in html


def test_a_value_violating_the_schema_is_refused_in_the_admin(world, root_config):
    masked = selectors.config_masked_values(config=root_config)
    response = signed_in(world.superadmin).post(change_url(root_config),
                                                change_post(root_config, {**masked, "temperature": 7}))
    assert response.status_code == 200  # the form again, with the error
    assert "temperature" in response.content.decode() and "errornote" in response.content.decode()
    root_config.refresh_from_db()
    assert root_config.version == 1 and root_config.values["temperature"] == 0.2
    assert ConfigHistory.objects.filter(config=root_config).count() == 1


def test_a_valid_change_is_versioned_and_keeps_the_masked_secret(world, root_config):
    masked = selectors.config_masked_values(config=root_config)
    response = signed_in(world.superadmin).post(
        change_url(root_config), change_post(root_config, {**masked, "temperature": 1.2}),
        HTTP_USER_AGENT="Firefox/1")
    assert response.status_code == 302, response.content.decode()[:2000]
    root_config.refresh_from_db()
    assert root_config.version == 2
    values = selectors.config_values_get(template_code=root_config.template.code, user=world.superadmin)
    assert values["temperature"] == 1.2 and values["api_key"] == SECRET
    row = ConfigHistory.objects.get(config=root_config, version=2)
    assert (row.reason, row.user_agent, row.actor) == ("admin edit", "Firefox/1", world.superadmin)


def test_an_edit_of_a_stale_version_is_refused(world, root_config):
    masked = selectors.config_masked_values(config=root_config)
    stale = change_post(root_config, {**masked, "temperature": 1.0})
    services.config_update(config=root_config, actor=world.superadmin, values={**masked, "temperature": 0.4})
    response = signed_in(world.superadmin).post(change_url(root_config), stale)
    assert response.status_code == 200 and "Reload the page" in response.content.decode()
    root_config.refresh_from_db()
    assert root_config.values["temperature"] == 0.4


def test_a_stale_form_that_changes_nothing_writes_nothing(world, root_config):
    stale = change_post(root_config, selectors.config_masked_values(config=root_config))
    services.config_change(config=root_config, actor=world.superadmin, display_name="renamed")
    unchanged = {**stale, "display_name": "renamed"}  # what the page would show now, with the old version
    response = signed_in(world.superadmin).post(change_url(root_config), unchanged)
    assert response.status_code == 302, response.content.decode()[:2000]
    root_config.refresh_from_db()
    assert (root_config.version, root_config.display_name) == (2, "renamed")
    assert ConfigHistory.objects.filter(config=root_config).count() == 2


def test_versions_page_shows_a_readable_diff_and_rolls_back(world, root_config):
    masked = selectors.config_masked_values(config=root_config)
    services.config_update(config=root_config, actor=world.superadmin, values={**masked, "model": "qwen-max"})
    services.config_update(config=root_config, actor=world.superadmin,
                           values={**masked, "model": "deepseek", "api_key": "sk-another-secret-123"})
    client = signed_in(world.superadmin)
    url = reverse("admin:configs_userconfig_versions", args=[root_config.pk])
    html = client.get(url + "?a=1&b=3").content.decode()
    assert "<code>model</code>" in html and "gpt-4o" in html and "deepseek" in html
    assert "<code>api_key</code>" in html  # the changed secret is listed, masked
    assert SECRET not in html and "sk-another-secret-123" not in html

    response = client.post(url, {"version": 1, "reason": "back to basics", "expected_version": 3})
    assert response.status_code == 302
    root_config.refresh_from_db()
    assert root_config.version == 4
    assert selectors.config_values_get(template_code=root_config.template.code,
                                       user=world.superadmin)["api_key"] == SECRET
    assert ConfigHistory.objects.get(config=root_config, version=4).reason == "back to basics"


def test_a_read_only_viewer_sees_masked_values_not_ciphertext(world, template):
    config = services.config_create(actor=world.shop_admin, template=template, shop=world.shop,
                                    values={"model": "m", "api_key": SECRET})
    html = signed_in(world.agent).get(change_url(config)).content.decode()
    assert "enc1:" not in html and SECRET not in html and "sk-…" in html


def test_history_admin_rollback_action(world, root_config):
    masked = selectors.config_masked_values(config=root_config)
    services.config_update(config=root_config, actor=world.superadmin, values={**masked, "model": "qwen-max"})
    first = ConfigHistory.objects.get(config=root_config, version=1)
    response = signed_in(world.superadmin).post(
        reverse("admin:configs_confighistory_changelist"),
        {"action": "rollback_to_version", "_selected_action": [first.pk]})
    assert response.status_code == 302
    root_config.refresh_from_db()
    assert root_config.version == 3 and root_config.values["model"] == "gpt-4o"
    html = signed_in(world.superadmin).get(
        reverse("admin:configs_confighistory_change", args=[first.pk])).content.decode()
    assert SECRET not in html and PROXY_SECRET not in html


def test_agents_see_but_cannot_change_or_roll_back_shop_settings(world, shop_settings_template):
    config = services.shop_settings_update(shop=world.shop, actor=world.shop_admin, values={"auto_mode": True})
    agent = signed_in(world.agent)
    assert agent.get(change_url(config)).status_code == 200
    assert agent.post(change_url(config), change_post(config, config.values)).status_code == 403
    versions = reverse("admin:configs_userconfig_versions", args=[config.pk])
    assert agent.get(versions).status_code == 200
    assert agent.post(versions, {"version": 1}).status_code == 403
    assert signed_in(world.outsider).get(change_url(config)).status_code in (302, 404)
    # The shop admin edits through the generated form.
    response = signed_in(world.shop_admin).post(
        change_url(config), change_post(config, {**config.values, "draft_threshold": 0.99}))
    assert response.status_code == 200 and "draft threshold" in response.content.decode()
    response = signed_in(world.shop_admin).post(
        change_url(config), change_post(config, {**config.values, "reply_delay_seconds": 7}))
    assert response.status_code == 302
    assert selectors.shop_settings_get(shop=world.shop)["reply_delay_seconds"] == 7


def test_add_then_edit(world, template):
    client = signed_in(world.superadmin)
    response = client.post(reverse("admin:configs_userconfig_add"), {
        "template": template.pk, "user": world.superadmin.pk, "shop": "", "key": "fresh", "display_name": "",
        "scope": "global", "expires_at_0": "", "expires_at_1": "", "is_active": "on", "reason": "new"})
    config = UserConfig.objects.get(key="fresh")
    assert response.status_code == 302 and response["Location"] == change_url(config)
    assert config.values["model"] == "deepseek-chat"  # defaults filled
    assert ConfigHistory.objects.get(config=config).reason == "new"


def test_filters_by_scope_expired_template(world, template):
    old = services.config_create(actor=world.superadmin, template=template, user=world.superadmin, key="old",
                                 scope=ConfigScope.TEMPORARY, expires_at=timezone.now() + timedelta(hours=1))
    UserConfig.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(hours=1))  # time passes
    services.config_create(actor=world.superadmin, template=template, user=world.superadmin, key="live")
    client = signed_in(world.superadmin)
    url = reverse("admin:configs_userconfig_changelist")
    for query, expect, absent in (
        ("?expired=yes", "old", "live"),
        ("?expired=no", "live", "old"),
        ("?scope__exact=temporary", "old", "live"),
        (f"?template__id__exact={template.pk}&owner=user", "live", None),
    ):
        html = client.get(url + query).content.decode()
        assert f"· {expect}<" in html or f"· {expect}</a>" in html, query
        if absent:
            assert f"· {absent}</a>" not in html, query


def test_system_config_admin_masks_secrets(world):
    services.system_config_create(actor=world.superadmin, key="smtp.password", value_type="string",
                                  value=PROXY_SECRET, is_encrypted=True)
    client = signed_in(world.superadmin)
    html = client.get(reverse("admin:configs_systemconfig_changelist")).content.decode()
    assert "smtp.password" in html and PROXY_SECRET not in html
    config = services.system_config_create(actor=world.superadmin, key="batch", value_type="int", value=3)
    response = client.post(reverse("admin:configs_systemconfig_change", args=[config.pk]), {
        "key": "batch", "value_type": "int", "value_text": "lots", "description": "", "expected_version": 1})
    assert response.status_code == 200 and "whole number" in response.content.decode()
    response = client.post(reverse("admin:configs_systemconfig_change", args=[config.pk]), {
        "key": "batch", "value_type": "int", "value_text": "8", "description": "", "expected_version": 1})
    assert response.status_code == 302
    assert selectors.system_config_value("batch") == 8


def test_shop_settings_link_opens_or_creates_the_shops_settings(world, shop_settings_template):
    url = reverse("admin:configs_userconfig_shop_settings", args=[world.shop.pk])
    response = signed_in(world.agent).get(url)
    assert response.status_code == 302 and response["Location"].endswith("/admin/configs/userconfig/")
    response = signed_in(world.shop_admin).get(url)
    config = selectors.shop_settings_config(shop=world.shop)
    assert response["Location"] == change_url(config) and config.version == 1
    assert signed_in(world.agent).get(url)["Location"] == change_url(config)
    assert signed_in(world.outsider).get(url).status_code in (302, 404)
    html = signed_in(world.shop_admin).get(change_url(config)).content.decode()
    assert "auto_send_threshold" in html and "data-django-jsonform" in html


def test_system_config_history_admin_rolls_back(world):
    from configs.models import SystemConfigHistory

    config = services.system_config_create(actor=world.superadmin, key="batch", value_type="int", value=3)
    services.system_config_update(config=config, actor=world.superadmin, value=8)
    first = SystemConfigHistory.objects.get(system_config=config, version=1)
    response = signed_in(world.superadmin).post(reverse("admin:configs_systemconfighistory_changelist"),
                                                {"action": "rollback_to_version", "_selected_action": [first.pk]})
    assert response.status_code == 302
    assert selectors.system_config_value("batch") == 3


TYPED_SECRET = "sk-NEWCLEARSECRET-abcdef"


@pytest.mark.parametrize("values", [
    lambda masked: json.dumps({**masked, "api_key": TYPED_SECRET, "temperature": 7}),  # refused by the schema
    lambda masked: json.dumps({**masked, "api_key": TYPED_SECRET})[:-1],  # not even JSON
    lambda masked: json.dumps({**masked, "proxy": {"password": TYPED_SECRET}, "temperature": 7}),
], ids=["invalid", "not-json", "nested"])
def test_a_secret_typed_into_a_refused_config_form_is_not_shown_back(world, root_config, values):
    masked = selectors.config_masked_values(config=root_config)
    response = signed_in(world.superadmin).post(change_url(root_config), {
        **change_post(root_config, masked), "values": values(masked)})
    html = response.content.decode()
    assert response.status_code == 200 and "errornote" in html
    assert "NEWCLEARSECRET" not in html
    root_config.refresh_from_db()
    assert root_config.version == 1


def test_a_secret_typed_into_a_refused_system_config_form_is_not_shown_back(world):
    from configs.models import SystemConfig

    client = signed_in(world.superadmin)
    config = services.system_config_create(actor=world.superadmin, key="smtp.port", value_type="int", value=25,
                                           is_encrypted=True)
    response = client.post(reverse("admin:configs_systemconfig_change", args=[config.pk]), {
        "key": config.key, "value_type": "int", "value_text": "TOPSECRET-typo", "description": "",
        "is_encrypted": "on", "expected_version": 1})
    assert response.status_code == 200 and "errornote" in response.content.decode()
    assert "TOPSECRET" not in response.content.decode()
    # A new secret too, and a plain value that becomes secret in the same edit.
    response = client.post(reverse("admin:configs_systemconfig_add"), {
        "key": "mail.port", "value_type": "int", "value_text": "TOPSECRET-new", "description": "",
        "is_encrypted": "on"})
    assert response.status_code == 200 and "TOPSECRET" not in response.content.decode()
    plain = services.system_config_create(actor=world.superadmin, key="batch", value_type="int", value=3)
    response = client.post(reverse("admin:configs_systemconfig_change", args=[plain.pk]), {
        "key": "batch", "value_type": "int", "value_text": "TOPSECRET-plain", "description": "",
        "is_encrypted": "on", "expected_version": 1})
    assert response.status_code == 200 and "TOPSECRET" not in response.content.decode()
    assert not SystemConfig.objects.filter(key="mail.port").exists()


def test_staff_who_are_not_superadmins_read_a_public_system_config(world):
    config = services.system_config_create(actor=world.superadmin, key="site.name", value_type="string",
                                           value="客服中心", is_public=True)
    world.shop_admin.is_staff = True
    world.shop_admin.save()
    client = signed_in(world.shop_admin)
    url = reverse("admin:configs_systemconfig_change", args=[config.pk])
    response = client.get(url)
    assert response.status_code == 200
    assert "客服中心" in response.content.decode()
    assert client.post(url, {"key": "site.name", "value_type": "string", "value_text": "x",
                             "expected_version": 1}).status_code == 403
    assert selectors.system_config_value("site.name") == "客服中心"


def test_bulk_deleting_a_template_that_cannot_go_is_reported_and_deletes_nothing(world, shop_settings_template):
    from configs.models import ConfigTemplate

    from .factories import ConfigTemplateFactory

    spare = ConfigTemplateFactory()
    client = signed_in(world.superadmin)
    url = reverse("admin:configs_configtemplate_changelist")
    response = client.post(url, {"action": "delete_selected", "post": "yes",
                                 "_selected_action": [shop_settings_template.pk, spare.pk]}, follow=True)
    assert response.status_code == 200
    text = response.content.decode()
    assert "System templates cannot be deleted." in text and "Nothing was deleted." in text
    assert "Successfully deleted" not in text
    assert ConfigTemplate.objects.filter(pk__in=[shop_settings_template.pk, spare.pk]).count() == 2
    # Without the refused one, the deletion goes through.
    response = client.post(url, {"action": "delete_selected", "post": "yes", "_selected_action": [spare.pk]},
                           follow=True)
    assert "Successfully deleted" in response.content.decode()
    assert not ConfigTemplate.objects.filter(pk=spare.pk).exists()


@pytest.mark.parametrize("owner_kind", ["user", "shop"])
def test_the_history_changelist_does_not_query_per_row(world, template, owner_kind):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from configs.models import ConfigHistory
    from tests.accounts.factories import UserFactory
    from tests.customer_service.factories import ShopFactory

    client = signed_in(world.superadmin)
    url = reverse("admin:configs_confighistory_changelist")

    def add(n):
        for _ in range(n):
            owner = {"user": UserFactory()} if owner_kind == "user" else {"shop": ShopFactory()}
            services.config_create(actor=world.superadmin, template=template, **owner)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    add(2)
    few = queries()
    add(10)
    assert ConfigHistory.objects.count() == 12
    assert queries() == few


def test_the_versions_page_of_a_config_that_is_not_a_number_is_not_found(world):
    assert signed_in(world.superadmin).get("/admin/configs/userconfig/abc/versions/").status_code == 404


def test_activating_a_selection_with_an_expired_config_changes_nothing_and_says_why(world, template):
    fine = services.config_create(actor=world.superadmin, template=template, user=world.superadmin, key="fine")
    expired = services.config_create(actor=world.superadmin, template=template, user=world.superadmin, key="old",
                                     scope=ConfigScope.TEMPORARY, expires_at=timezone.now() + timedelta(hours=1))
    for config in (fine, expired):
        services.config_set_active(config=config, actor=world.superadmin, active=False)
    UserConfig.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(hours=1))  # time passes
    client = signed_in(world.superadmin)
    url = reverse("admin:configs_userconfig_changelist")
    response = client.post(url, {"action": "activate_selected", "_selected_action": [fine.pk, expired.pk]})
    assert response.status_code == 302
    assert not UserConfig.objects.filter(pk__in=[fine.pk, expired.pk], is_active=True).exists()
    assert "Nothing was changed" in client.get(url).content.decode()


def test_a_template_is_added_and_changed_through_its_admin_form(world):
    from configs.models import ConfigTemplate

    client = signed_in(world.superadmin)
    schema = {"type": "object", "properties": {"n": {"type": "integer", "default": 1}}}
    form = {"code": "llm", "name": "LLM", "schema": json.dumps(schema), "defaults": "{}", "is_active": "on"}
    response = client.post(reverse("admin:configs_configtemplate_add"), form)
    assert response.status_code == 302
    template = ConfigTemplate.objects.get(code="llm")
    assert template.version == 1

    schema["properties"]["n"]["maximum"] = 9
    response = client.post(reverse("admin:configs_configtemplate_change", args=[template.pk]),
                           {**form, "schema": json.dumps(schema)})
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.schema["properties"]["n"]["maximum"] == 9 and template.version == 2


def test_a_config_its_template_no_longer_accepts_can_still_be_switched_off_and_renamed(world, config, template):
    schema = json.loads(json.dumps(template.schema))
    schema["properties"]["model"] = {"type": "string", "enum": ["qwen-max"], "default": "qwen-max"}
    services.template_update(template=template, actor=world.superadmin, schema=schema)
    client = signed_in(world.superadmin)
    shown = selectors.config_masked_values(config=config)
    response = client.post(change_url(config), change_post(config, shown, is_active="", display_name="old one"))
    assert response.status_code == 302
    config.refresh_from_db()
    assert not config.is_active and config.display_name == "old one"
    assert config.values["model"] == "gpt-4o"
    # Changing the values themselves is still checked against the template as it is now.
    response = client.post(change_url(config), change_post(config, {**shown, "temperature": 0.5}))
    assert response.status_code == 200 and "qwen-max" in response.content.decode()


def test_an_expiry_in_the_past_is_a_field_error_and_the_form_keeps_what_was_typed(world, config, template):
    client = signed_in(world.superadmin)
    response = client.post(reverse("admin:configs_userconfig_add"), {
        "template": template.pk, "user": world.superadmin.pk, "key": "flash-sale", "display_name": "双十一",
        "scope": "temporary", "expires_at_0": "2020-01-01", "expires_at_1": "10:00:00", "is_active": "on"})
    assert response.status_code == 200
    assert "expires_at" in response.context["adminform"].form.errors
    assert "双十一" in response.content.decode() and "flash-sale" in response.content.decode()
    assert not UserConfig.objects.filter(key="flash-sale").exists()

    shown = selectors.config_masked_values(config=config)
    response = client.post(change_url(config), change_post(
        config, shown, scope="temporary", expires_at_0="2020-01-01", expires_at_1="10:00:00", reason="快到期"))
    assert response.status_code == 200
    assert "2020-01-01 10:00:00+08:00" in str(response.context["adminform"].form.errors["expires_at"])
    # Switched off at the same time, a past expiry is fine.
    response = client.post(change_url(config), change_post(
        config, shown, scope="temporary", expires_at_0="2020-01-01", expires_at_1="10:00:00", is_active=""))
    assert response.status_code == 302


def test_unticking_encrypted_without_a_new_value_keeps_the_secret_hidden(world):
    from configs.models import SystemConfig, SystemConfigHistory

    config = services.system_config_create(actor=world.superadmin, key="smtp.password", value_type="string",
                                           value=PROXY_SECRET, is_encrypted=True)
    client = signed_in(world.superadmin)
    url = reverse("admin:configs_systemconfig_change", args=[config.pk])
    response = client.post(url, {"key": config.key, "value_type": "string", "value_text": "",
                                 "expected_version": config.version})
    assert response.status_code == 200
    assert "give it a new value" in str(response.context["adminform"].form.errors["value_text"])
    config.refresh_from_db()
    assert config.is_encrypted and config.version == 1
    for page in (reverse("admin:configs_systemconfig_changelist"),
                 reverse("admin:configs_systemconfighistory_changelist")):
        assert PROXY_SECRET not in client.get(page).content.decode()
    assert PROXY_SECRET not in json.dumps(list(SystemConfigHistory.objects.values("old_value", "new_value")))
    with pytest.raises(ConfigValidationError):
        services.system_config_update(config=config, actor=world.superadmin, is_encrypted=False)
    # With a new value it becomes a plain setting.
    response = client.post(url, {"key": config.key, "value_type": "string", "value_text": "not secret",
                                 "expected_version": config.version})
    assert response.status_code == 302
    assert SystemConfig.objects.get(pk=config.pk).value == "not secret"


@pytest.mark.parametrize(("form", "field", "says"), [
    ({"key": "Bad Key!"}, "key", "lower-case letters"),
    ({"key": "smtp.password", "is_encrypted": "on", "is_public": "on"}, None, "cannot be public"),
])
def test_the_system_config_form_explains_a_bad_key_or_a_public_secret(world, form, field, says):
    from configs.models import SystemConfig

    response = signed_in(world.superadmin).post(reverse("admin:configs_systemconfig_add"), {
        "value_type": "string", "value_text": "x", "description": "", **form})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert says in str(errors[field] if field else errors) and "Constraint" not in str(errors)
    assert not SystemConfig.objects.exists()


def test_a_system_config_whose_key_predates_the_key_rule_can_still_be_edited(world):
    from configs.models import SystemConfig

    config = services.system_config_create(actor=world.superadmin, key="batch", value_type="int", value=3)
    SystemConfig.objects.filter(pk=config.pk).update(key="Pipeline.Batch")  # saved before the rule
    response = signed_in(world.superadmin).post(reverse("admin:configs_systemconfig_change", args=[config.pk]), {
        "key": "Pipeline.Batch", "value_type": "int", "value_text": "8", "description": "",
        "expected_version": config.version})
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert selectors.system_config_value("Pipeline.Batch") == 8
    # A new key keeps to the rule.
    response = signed_in(world.superadmin).post(reverse("admin:configs_systemconfig_add"), {
        "key": "Other.Key", "value_type": "int", "value_text": "1", "description": ""})
    assert "lower-case letters" in str(response.context["adminform"].form.errors["key"])
