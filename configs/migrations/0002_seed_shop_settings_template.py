"""Seed the "shop settings" system template (and its category) that every shop's settings use."""

from django.db import migrations

CATEGORY = {"code": "shop", "name": "店铺 / Shop", "sort_order": 10}

TEMPLATE_CODE = "shop_settings"

STRING_LIST = {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 200}, "default": []}

SCHEMA = {
    "type": "object",
    "title": "Shop settings",
    "additionalProperties": False,
    "properties": {
        "ocr_region": {
            "type": "object",
            "title": "OCR region (pixels of the Qianniu chat window)",
            "additionalProperties": False,
            "default": {},
            "properties": {
                "x": {"type": "integer", "minimum": 0, "default": 0},
                "y": {"type": "integer", "minimum": 0, "default": 0},
                "w": {"type": "integer", "minimum": 1, "default": 800},
                "h": {"type": "integer", "minimum": 1, "default": 600},
            },
            "required": ["x", "y", "w", "h"],
        },
        "unread_threshold": {
            "type": "number", "title": "Unread detection threshold (0–1 score)",
            "minimum": 0, "maximum": 1, "default": 0.5,
        },
        "auto_mode": {"type": "boolean", "title": "Auto mode (send confident answers on its own)", "default": False},
        "auto_send_threshold": {
            "type": "number", "title": "Auto-send confidence threshold", "minimum": 0, "maximum": 1, "default": 0.9,
        },
        "draft_threshold": {
            "type": "number", "title": "Draft threshold (≤ auto-send threshold)", "minimum": 0, "maximum": 1,
            "default": 0.6,
        },
        "reply_delay_seconds": {
            "type": "number", "title": "Reply delay (seconds)", "minimum": 0, "maximum": 600, "default": 2,
        },
        "business_hours": {
            "type": "object",
            "title": "Business hours (shop time zone)",
            "additionalProperties": False,
            "default": {},
            "properties": {
                "enabled": {"type": "boolean", "default": False},
                "start": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "default": "09:00"},
                "end": {"type": "string", "pattern": "^([01][0-9]|2[0-4]):[0-5][0-9]$", "default": "23:00"},
                "days": {
                    "type": "array", "title": "Days (1 = Monday … 7 = Sunday)",
                    "items": {"type": "integer", "minimum": 1, "maximum": 7},
                    "uniqueItems": True, "default": [1, 2, 3, 4, 5, 6, 7],
                },
            },
            "required": ["enabled", "start", "end", "days"],
        },
        "buyer_blacklist": {**STRING_LIST, "title": "Buyers never answered automatically"},
        "buyer_whitelist": {**STRING_LIST, "title": "Buyers always answered"},
        "keyword_blacklist": {**STRING_LIST, "title": "Keywords that send a message to review"},
        "keyword_whitelist": {**STRING_LIST, "title": "Keywords always answered"},
        "ai_model_config_id": {
            "type": "integer", "title": "AI model config id (0 = the router's default)", "minimum": 0, "default": 0,
        },
        "forbidden_phrases": {**STRING_LIST, "title": "Phrases a reply must never contain"},
    },
}


def seed(apps, schema_editor):
    ConfigCategory = apps.get_model("configs", "ConfigCategory")
    ConfigTemplate = apps.get_model("configs", "ConfigTemplate")
    category, _ = ConfigCategory.objects.get_or_create(code=CATEGORY["code"], defaults=CATEGORY)
    ConfigTemplate.objects.update_or_create(
        code=TEMPLATE_CODE,
        defaults={
            "name": "店铺设置 / Shop settings",
            "category": category,
            "description": "Per-shop settings read by the reply pipeline (configs.selectors.shop_settings_get).",
            "schema": SCHEMA,
            "defaults": {},
            "is_system": True,
            "is_active": True,
        },
    )


def unseed(apps, schema_editor):
    ConfigTemplate = apps.get_model("configs", "ConfigTemplate")
    UserConfig = apps.get_model("configs", "UserConfig")
    ConfigHistory = apps.get_model("configs", "ConfigHistory")
    template = ConfigTemplate.objects.filter(code=TEMPLATE_CODE).first()
    if template is not None:
        ConfigHistory.objects.filter(template=template).delete()
        UserConfig.objects.filter(template=template).delete()
        template.delete()
    apps.get_model("configs", "ConfigCategory").objects.filter(code=CATEGORY["code"], templates__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("configs", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
