"""The reply rules' shop settings: the shipped template carries them, the pipeline reads them typed."""

import pytest

from configs import selectors, services
from configs.exceptions import ConfigValidationError
from customer_service.pipeline.bursts import BurstPolicy
from customer_service.pipeline.intents import INTENTS, HandoffSettings, handoff_intents_detect
from customer_service.pipeline.safety import DEFAULT_RULE_CODES, SafetySettings, safety_check
from tests.configs.factories import shop_settings_template_ensure

pytestmark = pytest.mark.django_db


@pytest.fixture
def template(db):
    return shop_settings_template_ensure()


def test_the_template_lists_exactly_the_pipelines_rule_and_intent_codes(template):
    properties = template.schema["properties"]
    assert properties["reply_safety"]["properties"]["disabled_rules"]["items"]["enum"] == list(DEFAULT_RULE_CODES)
    assert properties["handoff"]["properties"]["disabled_intents"]["items"]["enum"] == list(INTENTS)
    assert set(properties["handoff"]["properties"]["phrases"]["properties"]) == set(INTENTS)


def test_a_shop_never_configured_reads_the_shipped_behaviour(world, template):
    settings = selectors.shop_settings_get(shop=world.shop)
    assert SafetySettings.from_shop_settings(settings) == SafetySettings()
    assert HandoffSettings.from_shop_settings(settings) == HandoffSettings()
    assert BurstPolicy.from_shop_settings(settings) == BurstPolicy()


def test_a_shop_admins_changes_reach_the_rules(world, template):
    services.shop_settings_update(shop=world.shop, actor=world.shop_admin, values={
        "forbidden_phrases": ["清仓"],
        "reply_safety": {"max_length": 100, "disabled_rules": ["contact.hotline"], "patterns": ["找*代购"]},
        "handoff": {"phrases": {"refund": ["价保"]}, "removed_phrases": ["运费险"], "disabled_intents": ["media"]},
        "bursts": {"base_window_ms": 500},
    })
    settings = selectors.shop_settings_get(shop=world.shop)
    safety = SafetySettings.from_shop_settings(settings)
    handoff = HandoffSettings.from_shop_settings(settings)
    assert safety_check("清仓，找我们代购，400-820-8820", settings=safety).codes == (
        "shop.forbidden_phrase", "shop.pattern")
    assert safety_check("好" * 101, settings=safety).codes == ("length.max",)
    assert handoff_intents_detect("能价保吗", settings=handoff).intent == "refund"
    assert handoff_intents_detect("运费险怎么用 [图片]", settings=handoff).intent is None
    assert BurstPolicy.from_shop_settings(settings) == BurstPolicy(base_window_ms=500)
    # The other shop keeps the shipped rules.
    other = SafetySettings.from_shop_settings(selectors.shop_settings_get(shop=world.other_shop))
    assert safety_check("400-820-8820", settings=other).codes == ("contact.hotline",)


@pytest.mark.parametrize(("values", "path"), [
    ({"reply_safety": {"disabled_rules": ["contact.nonsense"]}}, "reply_safety.disabled_rules"),
    ({"reply_safety": {"patterns": ["*"]}}, "reply_safety.patterns"),
    ({"reply_safety": {"max_length": 5}}, "reply_safety.max_length"),
    ({"forbidden_phrases": [" "]}, None),
    ({"handoff": {"disabled_intents": ["shopping"]}}, "handoff.disabled_intents"),
    ({"handoff": {"phrases": {"shopping": ["x"]}}}, "handoff.phrases"),
    ({"handoff": {"exempt_phrases": ["**"]}}, "handoff.exempt_phrases"),
    ({"bursts": {"max_lines": 0}}, "bursts.max_lines"),
    ({"bursts": {"base_window_ms": 2000, "fragment_window_ms": 1000}}, "bursts.fragment_window_ms"),
    ({"bursts": {"fragment_window_ms": 3000, "max_wait_ms": 2000}}, "bursts.max_wait_ms"),
])
def test_bad_rule_settings_are_refused_with_the_field_named(world, template, values, path):
    with pytest.raises(ConfigValidationError) as refused:
        services.shop_settings_update(shop=world.shop, actor=world.shop_admin, values=values)
    if path is not None:
        assert any(str(d.get("path", "")).startswith(path) for d in refused.value.detail), refused.value.detail
    assert selectors.shop_settings_config(shop=world.shop) is None


def test_the_settings_migration_reverses_and_applies_again(world, template):
    import importlib

    from django.apps import apps

    from configs.models import ConfigTemplate, UserConfig

    migration = importlib.import_module("configs.migrations.0005_shop_settings_reply_rules")
    services.shop_settings_update(shop=world.shop, actor=world.shop_admin,
                                  values={"auto_mode": True, "reply_safety": {"max_length": 300}})
    version = ConfigTemplate.objects.get(pk=template.pk).version

    migration.remove_properties(apps, None)
    reversed_template = ConfigTemplate.objects.get(pk=template.pk)
    assert not {"reply_safety", "handoff", "bursts"} & set(reversed_template.schema["properties"])
    assert "pattern" not in reversed_template.schema["properties"]["forbidden_phrases"]["items"]
    stored = UserConfig.objects.get(shop=world.shop, template=template).values
    assert "reply_safety" not in stored and stored["auto_mode"] is True

    migration.add_properties(apps, None)
    restored = ConfigTemplate.objects.get(pk=template.pk)
    assert restored.schema["properties"]["reply_safety"] == migration.PROPERTIES["reply_safety"]
    assert restored.version == version + 2
