"""Shop settings for the calibrated auto-send threshold.

Adds the ``auto_send_calibration`` group to the stored ``shop_settings`` template (defaults = the shipped
behaviour): the precision a shop wants of the answers kefu sends on its own (its suggestion is the lowest
threshold whose Wilson 95 % lower bound reaches it) and how many reviewed answers a suggestion needs.
"""

from django.db import migrations

TEMPLATE_CODE = "shop_settings"

PROPERTIES = {
    "auto_send_calibration": {
        "type": "object",
        "title": "自动发送阈值校准 / Auto-send threshold calibration",
        "additionalProperties": False,
        "default": {},
        "properties": {
            "target_precision": {
                "type": "number", "title": "目标准确率 / Target precision",
                "minimum": 0.5, "maximum": 0.9999, "default": 0.98,
            },
            "min_reviewed": {
                "type": "integer", "title": "给出建议所需的已审核答案数 / Reviewed answers needed for a suggestion",
                "minimum": 10, "maximum": 1000000, "default": 100,
            },
        },
        "required": ["target_precision", "min_reviewed"],
    },
}


def add_properties(apps, schema_editor):
    ConfigTemplate = apps.get_model("configs", "ConfigTemplate")
    template = ConfigTemplate.objects.filter(code=TEMPLATE_CODE).first()
    if template is None:
        return
    template.schema = {**template.schema, "properties": {**template.schema.get("properties", {}), **PROPERTIES}}
    template.version += 1
    template.save(update_fields=["schema", "version"])


def remove_properties(apps, schema_editor):
    ConfigTemplate = apps.get_model("configs", "ConfigTemplate")
    UserConfig = apps.get_model("configs", "UserConfig")
    template = ConfigTemplate.objects.filter(code=TEMPLATE_CODE).first()
    if template is None:
        return
    properties = {k: v for k, v in template.schema.get("properties", {}).items() if k not in PROPERTIES}
    template.schema = {**template.schema, "properties": properties}
    template.version += 1
    template.save(update_fields=["schema", "version"])
    for config in UserConfig.objects.filter(template=template):
        values = {k: v for k, v in (config.values or {}).items() if k not in PROPERTIES}
        if values != config.values:
            config.values = values
            config.save(update_fields=["values"])


class Migration(migrations.Migration):
    dependencies = [("configs", "0009_shop_settings_desktop")]

    operations = [migrations.RunPython(add_properties, remove_properties)]
