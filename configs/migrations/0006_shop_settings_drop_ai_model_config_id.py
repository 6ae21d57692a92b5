"""Remove ``ai_model_config_id`` from the shop settings: billing's shop model choice is the one place
a shop picks its model (and it lets a shop admin choose only system configs or their own key).

Dropped from the template's schema and defaults, from every stored shop config and from their
history, so a rollback to an earlier version does not bring back a key the schema refuses.
"""

from django.db import migrations

SHOP_SETTINGS = "shop_settings"
REMOVED = "ai_model_config_id"
REMOVED_PROPERTY = {
    "type": "integer", "title": "AI model config id (0 = the router's default)", "minimum": 0, "default": 0,
}


def _without(values):
    if isinstance(values, dict) and REMOVED in values:
        return {k: v for k, v in values.items() if k != REMOVED}, True
    return values, False


def drop(apps, schema_editor):
    ConfigTemplate = apps.get_model("configs", "ConfigTemplate")
    UserConfig = apps.get_model("configs", "UserConfig")
    ConfigHistory = apps.get_model("configs", "ConfigHistory")
    template = ConfigTemplate.objects.filter(code=SHOP_SETTINGS).first()
    if template is None:
        return
    schema = dict(template.schema)
    properties, schema_changed = _without(schema.get("properties", {}))
    defaults, defaults_changed = _without(template.defaults or {})
    if schema_changed or defaults_changed:
        schema["properties"] = properties
        schema["required"] = [name for name in schema.get("required", []) if name != REMOVED]
        if not schema["required"]:
            del schema["required"]
        template.schema, template.defaults = schema, defaults
        template.version += 1
        template.save(update_fields=["schema", "defaults", "version"])
    for config in UserConfig.objects.filter(template=template):
        config.values, changed = _without(config.values)
        if changed:
            config.save(update_fields=["values"])
    for row in ConfigHistory.objects.filter(template=template):
        changed = []
        for field in ("old_values", "new_values", "snapshot"):
            value, dropped = _without(getattr(row, field))
            if dropped:
                setattr(row, field, value)
                changed.append(field)
        if changed:
            row.save(update_fields=changed)


def restore_property(apps, schema_editor):
    """The schema accepts the key again; values it was dropped from stay without it (it had no reader)."""
    ConfigTemplate = apps.get_model("configs", "ConfigTemplate")
    template = ConfigTemplate.objects.filter(code=SHOP_SETTINGS).first()
    if template is not None and REMOVED not in template.schema.get("properties", {}):
        template.schema = {**template.schema, "properties": {**template.schema["properties"], REMOVED: REMOVED_PROPERTY}}
        template.save(update_fields=["schema"])


class Migration(migrations.Migration):
    dependencies = [("configs", "0005_shop_settings_reply_rules")]

    operations = [migrations.RunPython(drop, restore_property)]
