"""Shop settings for the desktop side (the Qianniu window on the seller's PC).

Adds the ``desktop`` group to the stored ``shop_settings`` template (defaults = the shipped behaviour: the
desktop worker leaves a shop alone until it is switched on). Regions are relative to the window's top-left
corner; the defaults fit a 900 × 620 reception window with the conversation list on the left, and are meant to
be set by looking at ``manage.py desktop_calibrate``'s picture. The reply delay and the unread threshold stay
where they were (``reply_delay_seconds``, ``unread_threshold``).
"""

from django.db import migrations

TEMPLATE_CODE = "shop_settings"


def rect(title, x, y, w, h):
    return {
        "type": "object", "title": title, "additionalProperties": False, "default": {},
        "properties": {
            "x": {"type": "integer", "minimum": 0, "maximum": 10000, "default": x},
            "y": {"type": "integer", "minimum": 0, "maximum": 10000, "default": y},
            "w": {"type": "integer", "minimum": 1, "maximum": 10000, "default": w},
            "h": {"type": "integer", "minimum": 1, "maximum": 10000, "default": h},
        },
        "required": ["x", "y", "w", "h"],
    }


PROPERTIES = {
    "desktop": {
        "type": "object",
        "title": "千牛窗口 / Qianniu window",
        "additionalProperties": False,
        "default": {},
        "properties": {
            "enabled": {
                "type": "boolean", "title": "读取并回复千牛窗口 / Read and answer the Qianniu window", "default": False,
            },
            "regions": {
                "type": "object",
                "title": "区域（相对窗口左上角，像素） / Regions (pixels from the window's top-left corner)",
                "additionalProperties": False,
                "default": {},
                "properties": {
                    "conversation_list": rect("会话列表 / Conversation list", 0, 0, 220, 620),
                    "chat_header": rect("聊天标题（买家昵称） / Chat header (buyer nick)", 220, 0, 680, 44),
                    "transcript": rect("聊天记录 / Transcript", 220, 44, 680, 480),
                    "input_box": rect("输入框 / Input box", 228, 532, 576, 80),
                    "send_button": rect("发送按钮 / Send button", 812, 580, 80, 32),
                },
                "required": ["conversation_list", "chat_header", "transcript", "input_box", "send_button"],
            },
            "window_width": {
                "type": "integer", "title": "区域对应的窗口宽度（0 不检查） / Window width the regions are for (0: any)",
                "minimum": 0, "maximum": 10000, "default": 0,
            },
            "window_height": {
                "type": "integer", "title": "区域对应的窗口高度（0 不检查） / Window height the regions are for (0: any)",
                "minimum": 0, "maximum": 10000, "default": 0,
            },
            "badge_colour": {
                "type": "string", "title": "未读角标颜色 / Unread badge colour", "pattern": "^#[0-9a-fA-F]{6}$",
                "default": "#ff3b30",
            },
            "newest_on_top": {
                "type": "boolean", "title": "会话列表最新在上 / Conversation list newest on top", "default": True,
            },
            "poll_interval_seconds": {
                "type": "integer", "title": "轮询间隔（秒） / Poll every (seconds)", "minimum": 1, "maximum": 60,
                "default": 1,
            },
            "submit": {
                "type": "string", "title": "发送方式 / Submit by", "enum": ["enter", "button"], "default": "enter",
            },
            "readback_timeout_seconds": {
                "type": "number", "title": "发送确认等待（秒） / Read-back timeout (seconds)", "minimum": 1,
                "maximum": 60, "default": 8,
            },
            "drift_polls": {
                "type": "integer", "title": "连续几次读不出内容或置信度低时暂停 / Pause after this many bad reads in a row",
                "minimum": 1, "maximum": 100, "default": 3,
            },
            "min_ocr_confidence": {
                "type": "number", "title": "最低 OCR 置信度 / Lowest acceptable mean OCR score", "minimum": 0,
                "maximum": 1, "default": 0.7,
            },
            "unconfirmed_sends": {
                "type": "integer", "title": "连续几次发送未确认时暂停 / Pause after this many unconfirmed sends in a row",
                "minimum": 1, "maximum": 20, "default": 2,
            },
            "debug_captures": {
                "type": "boolean", "title": "每次读取都保存截图 / Keep a capture of every read", "default": False,
            },
            "capture_retention_hours": {
                "type": "integer", "title": "截图保留（小时） / Keep captures for (hours)", "minimum": 1,
                "maximum": 2160, "default": 72,
            },
        },
        "required": ["enabled", "regions", "window_width", "window_height", "badge_colour", "newest_on_top",
                     "poll_interval_seconds", "submit", "readback_timeout_seconds", "drift_polls",
                     "min_ocr_confidence", "unconfirmed_sends", "debug_captures", "capture_retention_hours"],
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
    dependencies = [("configs", "0008_reply_prompts_template")]

    operations = [migrations.RunPython(add_properties, remove_properties)]
