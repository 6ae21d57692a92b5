"""Shop settings for the reply pipeline and the review queue.

Adds two groups to the stored ``shop_settings`` template (defaults = the shipped behaviour):

- ``pipeline``: human takeover period, knowledge answers outside business hours, the away message,
  the LLM's time budget and how long messages are kept;
- ``review``: the deadline for answering an item in review (Qianniu rates the share answered within
  3 minutes), the holding reply sent once when it is about to pass, and the backlog that raises an alert.
"""

from django.db import migrations

TEMPLATE_CODE = "shop_settings"

PROPERTIES = {
    "pipeline": {
        "type": "object",
        "title": "回复流程 / Reply pipeline",
        "additionalProperties": False,
        "default": {},
        "properties": {
            "takeover_minutes": {
                "type": "integer", "title": "人工接管时长（分钟） / Human takeover period (minutes)",
                "minimum": 0, "maximum": 1440, "default": 60,
            },
            "after_hours_knowledge_answers": {
                "type": "boolean", "title": "非营业时间仍自动发送知识库答案 / Knowledge answers outside business hours",
                "default": False,
            },
            "away_message": {
                "type": "string", "title": "非营业时间自动回复（留空不发） / Away message (empty: none)",
                "maxLength": 500, "default": "",
            },
            "llm_time_budget_seconds": {
                "type": "integer", "title": "AI 草稿最长等待（秒） / LLM time budget (seconds)",
                "minimum": 5, "maximum": 300, "default": 50,
            },
            "retention_days": {
                "type": "integer", "title": "消息保留天数 / Keep messages for (days)",
                "minimum": 1, "maximum": 3650, "default": 180,
            },
        },
        "required": ["takeover_minutes", "after_hours_knowledge_answers", "away_message",
                     "llm_time_budget_seconds", "retention_days"],
    },
    "review": {
        "type": "object",
        "title": "人工审核 / Review",
        "additionalProperties": False,
        "default": {},
        "properties": {
            "deadline_seconds": {
                "type": "integer", "title": "审核时限（秒） / Answer within (seconds)",
                "minimum": 30, "maximum": 86400, "default": 180,
            },
            "holding_before_seconds": {
                "type": "integer", "title": "时限前多少秒发送安抚语 / Send the holding reply this many seconds before",
                "minimum": 0, "maximum": 3600, "default": 45,
            },
            "holding_reply": {
                "type": "string", "title": "安抚语（留空不发） / Holding reply (empty: none)",
                "maxLength": 200, "default": "亲，稍等，马上为您查询～",
            },
            "backlog_alert": {
                "type": "integer", "title": "待审核超过多少条时告警 / Alert when more items wait than",
                "minimum": 1, "maximum": 10000, "default": 20,
            },
        },
        "required": ["deadline_seconds", "holding_before_seconds", "holding_reply", "backlog_alert"],
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
    dependencies = [("configs", "0006_shop_settings_drop_ai_model_config_id")]

    operations = [migrations.RunPython(add_properties, remove_properties)]
