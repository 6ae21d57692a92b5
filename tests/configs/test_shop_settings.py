import pytest

from configs import selectors, services
from configs.choices import HistoryAction
from configs.exceptions import ConfigConflict, ConfigPermissionDenied, ConfigValidationError
from configs.models import ConfigHistory

pytestmark = pytest.mark.django_db

DEFAULTS = {
    "ocr_region": {"x": 0, "y": 0, "w": 800, "h": 600},
    "unread_threshold": 0.5,
    "auto_mode": False,
    "auto_send_threshold": 0.9,
    "draft_threshold": 0.6,
    "reply_delay_seconds": 2,
    "business_hours": {"enabled": False, "start": "09:00", "end": "23:00", "days": [1, 2, 3, 4, 5, 6, 7]},
    "buyer_blacklist": [],
    "buyer_whitelist": [],
    "keyword_blacklist": [],
    "keyword_whitelist": [],
    "forbidden_phrases": [],
    "reply_safety": {"max_length": 800, "disabled_rules": [], "patterns": [], "exempt_phrases": []},
    "handoff": {
        "disabled_intents": [],
        "phrases": {"complaint": [], "emotion": [], "human": [], "refund": [], "order_change": [], "media": []},
        "removed_phrases": [],
        "exempt_phrases": [],
    },
    "bursts": {"base_window_ms": 350, "fragment_window_ms": 1200, "short_fragment_chars": 6, "max_wait_ms": 4000,
               "max_lines": 12, "max_chars": 1600},
    "pipeline": {"takeover_minutes": 60, "after_hours_knowledge_answers": False, "away_message": "",
                 "llm_time_budget_seconds": 50, "retention_days": 180},
    "review": {"deadline_seconds": 180, "holding_before_seconds": 45, "holding_reply": "亲，稍等，马上为您查询～",
               "backlog_alert": 20},
    "desktop": {
        "enabled": False,
        "regions": {"conversation_list": {"x": 0, "y": 0, "w": 220, "h": 620},
                    "chat_header": {"x": 220, "y": 0, "w": 680, "h": 44},
                    "transcript": {"x": 220, "y": 44, "w": 680, "h": 480},
                    "input_box": {"x": 228, "y": 532, "w": 576, "h": 80},
                    "send_button": {"x": 812, "y": 580, "w": 80, "h": 32}},
        "window_width": 0, "window_height": 0, "badge_colour": "#ff3b30", "newest_on_top": True,
        "poll_interval_seconds": 1, "submit": "enter", "readback_timeout_seconds": 8, "drift_polls": 3,
        "min_ocr_confidence": 0.7, "unconfirmed_sends": 2, "debug_captures": False, "capture_retention_hours": 72,
    },
    "auto_send_calibration": {"target_precision": 0.98, "min_reviewed": 100},
}


def test_the_migration_seeds_a_system_template(shop_settings_template):
    assert shop_settings_template.is_system
    assert shop_settings_template.category.code == "shop"


def test_a_shop_never_configured_reads_the_defaults(world, shop_settings_template):
    assert selectors.shop_settings_get(shop=world.shop) == DEFAULTS


def test_a_shop_admin_changes_their_shop_and_the_pipeline_reads_it(world, shop_settings_template):
    config = services.shop_settings_update(
        shop=world.shop, actor=world.shop_admin, reason="go live",
        values={"auto_mode": True, "ocr_region": {"x": 10, "y": 20, "w": 300, "h": 400},
                "forbidden_phrases": ["最低价"]},
    )
    assert config.version == 1 and config.shop == world.shop and config.user is None
    settings = selectors.shop_settings_get(shop=world.shop)
    assert settings["auto_mode"] is True and settings["ocr_region"]["w"] == 300
    assert settings["forbidden_phrases"] == ["最低价"]
    assert settings["auto_send_threshold"] == 0.9  # untouched default
    assert selectors.shop_settings_get(shop=world.other_shop) == DEFAULTS  # one config per shop

    # A later change merges key by key: what it leaves out keeps its value.
    services.shop_settings_update(shop=world.shop, actor=world.shop_admin, values={"reply_delay_seconds": 5},
                                  expected_version=1)
    settings = selectors.shop_settings_get(shop=world.shop)
    assert settings["reply_delay_seconds"] == 5 and settings["auto_mode"] is True


def test_draft_threshold_above_auto_threshold_is_refused(world, shop_settings_template):
    with pytest.raises(ConfigValidationError, match="draft threshold"):
        services.shop_settings_update(shop=world.shop, actor=world.shop_admin,
                                      values={"draft_threshold": 0.95})
    with pytest.raises(ConfigValidationError):
        services.shop_settings_update(shop=world.shop, actor=world.shop_admin,
                                      values={"auto_send_threshold": 1.5})
    with pytest.raises(ConfigValidationError):
        services.shop_settings_update(shop=world.shop, actor=world.shop_admin,
                                      values={"business_hours": {"start": "25:00"}})
    with pytest.raises(ConfigValidationError, match="both"):
        services.shop_settings_update(shop=world.shop, actor=world.shop_admin,
                                      values={"buyer_blacklist": ["tb_123"], "buyer_whitelist": ["tb_123"]})
    assert selectors.shop_settings_config(shop=world.shop) is None
    assert selectors.shop_settings_get(shop=world.shop) == DEFAULTS


@pytest.mark.parametrize("who", ["agent", "outsider"])
def test_agents_and_other_shops_admins_cannot_change_a_shops_settings(world, shop_settings_template, who):
    with pytest.raises(ConfigPermissionDenied):
        services.shop_settings_update(shop=world.shop, actor=getattr(world, who), values={"auto_mode": True})


def test_a_superadmin_changes_any_shop(world, shop_settings_template):
    services.shop_settings_update(shop=world.other_shop, actor=world.superadmin, values={"auto_mode": True})
    assert selectors.shop_settings_get(shop=world.other_shop)["auto_mode"] is True


def test_stale_shop_settings_edit_is_a_conflict(world, shop_settings_template):
    services.shop_settings_update(shop=world.shop, actor=world.shop_admin, values={"auto_mode": True})
    services.shop_settings_update(shop=world.shop, actor=world.superadmin, values={"reply_delay_seconds": 9},
                                  expected_version=1)
    with pytest.raises(ConfigConflict):
        services.shop_settings_update(shop=world.shop, actor=world.shop_admin, values={"auto_mode": False},
                                      expected_version=1)
    assert selectors.shop_settings_get(shop=world.shop)["auto_mode"] is True


def test_shop_settings_history_and_rollback_end_to_end(world, shop_settings_template):
    services.shop_settings_update(shop=world.shop, actor=world.shop_admin, values={"draft_threshold": 0.5},
                                  reason="v1")
    services.shop_settings_update(shop=world.shop, actor=world.shop_admin,
                                  values={"auto_mode": True, "keyword_blacklist": ["退款"]}, reason="v2")
    services.shop_settings_update(shop=world.shop, actor=world.superadmin,
                                  values={"auto_send_threshold": 0.8, "draft_threshold": 0.7}, reason="v3")
    config = selectors.shop_settings_config(shop=world.shop)
    history = list(selectors.config_history_list(config=config))
    assert [(h.version, h.action, h.reason) for h in history] == [
        (3, HistoryAction.UPDATE, "v3"), (2, HistoryAction.UPDATE, "v2"), (1, HistoryAction.CREATE, "v1")]
    assert history[0].actor == world.superadmin
    diff = selectors.config_versions_diff(config=config, from_version=1, to_version=3)
    assert [(d["path"], d["change"], d["old"], d["new"]) for d in diff] == [
        ("auto_mode", "changed", False, True),
        ("auto_send_threshold", "changed", 0.9, 0.8),
        ("draft_threshold", "changed", 0.5, 0.7),
        ("keyword_blacklist", "changed", [], ["退款"]),
    ]

    services.config_rollback(config=config, version=1, actor=world.shop_admin, reason="too aggressive")
    settings = selectors.shop_settings_get(shop=world.shop)
    assert settings == {**DEFAULTS, "draft_threshold": 0.5}
    assert config.version == 4
    last = ConfigHistory.objects.filter(config=config).order_by("-version").first()
    assert (last.action, last.reason, last.actor) == (HistoryAction.ROLLBACK, "too aggressive", world.shop_admin)


def test_a_change_to_a_nested_key_keeps_the_objects_other_keys(world, shop_settings_template, client_for):
    services.shop_settings_update(shop=world.shop, actor=world.shop_admin, values={
        "business_hours": {"enabled": False, "start": "08:00", "end": "20:00", "days": [1, 2, 3, 4, 5]},
        "ocr_region": {"x": 10, "y": 20, "w": 300, "h": 400}})
    response = client_for(world.shop_admin).patch(
        f"/api/configs/shop-settings/{world.shop.pk}/",
        {"values": {"business_hours": {"enabled": True, "days": [6, 7]}, "ocr_region": {"x": 5}}}, format="json")
    assert response.status_code == 200, response.content
    values = response.json()["values"]
    # Lists are values: they replace; objects merge key by key.
    assert values["business_hours"] == {"enabled": True, "start": "08:00", "end": "20:00", "days": [6, 7]}
    assert values["ocr_region"] == {"x": 5, "y": 20, "w": 300, "h": 400}


@pytest.mark.parametrize(("values", "path"), [
    ({"ocr_region": {"x": 10**30, "y": 0, "w": 800, "h": 600}}, "ocr_region.w"),
    ({"ocr_region": {"x": 0, "y": 32000, "w": 800, "h": 1000}}, "ocr_region.h"),
    ({"business_hours": {"enabled": True, "start": "09:00", "end": "24:30", "days": [1]}}, "business_hours.end"),
    ({"business_hours": {"enabled": True, "start": "09:00", "end": "09:00", "days": [1]}}, "business_hours.end"),
])
def test_settings_a_screen_or_a_clock_cannot_have_are_refused(world, shop_settings_template, values, path):
    with pytest.raises(ConfigValidationError) as exc:
        services.shop_settings_update(shop=world.shop, actor=world.shop_admin, values=values)
    assert [row["path"] for row in exc.value.detail] == [path]


def test_business_hours_may_run_past_midnight_and_until_24(world, shop_settings_template):
    for start, end in (("20:00", "02:00"), ("00:00", "24:00")):
        services.shop_settings_update(shop=world.shop, actor=world.shop_admin, values={
            "business_hours": {"enabled": True, "start": start, "end": end, "days": [1, 2]}})
        assert selectors.shop_settings_get(shop=world.shop)["business_hours"]["end"] == end


def test_a_shop_cannot_be_pointed_at_a_model_config_through_its_settings(world, shop_settings_template):
    # It let a shop admin name another person's key; billing's shop model choice is the one place.
    with pytest.raises(ConfigValidationError):
        services.shop_settings_update(shop=world.shop, actor=world.shop_admin, values={"ai_model_config_id": 1})
    assert "ai_model_config_id" not in selectors.shop_settings_get(shop=world.shop)


def test_the_migration_drops_ai_model_config_id_from_the_template_the_stored_values_and_history(
        world, shop_settings_template):
    import importlib

    from django.apps import apps

    from configs.models import UserConfig

    migration = importlib.import_module("configs.migrations.0006_shop_settings_drop_ai_model_config_id")
    template = shop_settings_template
    template.schema = {**template.schema, "properties": {**template.schema["properties"],
                                                         migration.REMOVED: migration.REMOVED_PROPERTY}}
    template.defaults = {migration.REMOVED: 0}
    template.save()
    config = UserConfig.objects.create(template=template, shop=world.shop, key="default",
                                       values={"ai_model_config_id": 7, "auto_mode": True})
    ConfigHistory.objects.create(config_ref=config.pk, template=template, action=HistoryAction.UPDATE, version=2,
                                 old_values={"ai_model_config_id": 3}, new_values={"ai_model_config_id": 7},
                                 snapshot={"ai_model_config_id": 7, "auto_mode": True})
    version = template.version

    migration.drop(apps, None)

    template.refresh_from_db()
    config.refresh_from_db()
    history = ConfigHistory.objects.get(config_ref=config.pk)
    assert "ai_model_config_id" not in template.schema["properties"] and template.defaults == {}
    assert template.version == version + 1
    assert config.values == {"auto_mode": True}
    assert (history.old_values, history.new_values, history.snapshot) == ({}, {}, {"auto_mode": True})
