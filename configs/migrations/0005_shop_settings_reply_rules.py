"""Shop settings for the reply rules: the pre-send safety check, the handoff intents and the bursts.

Adds three groups to the stored ``shop_settings`` template (defaults = the shipped behaviour):

- ``reply_safety``: maximum length, shipped rules switched off by code, the shop's own patterns
  and exempt phrases (the existing ``forbidden_phrases`` join the check as they are);
- ``handoff``: intents switched off, phrases added per intent, shipped phrases removed, exempt phrases;
- ``bursts``: the quiet-window parameters.

The rule codes and intent codes below are frozen here as the schema's enums; the pipeline's lists
(customer_service.pipeline.safety.DEFAULT_RULE_CODES, .intents.INTENTS) are checked against them
by the tests, and a later change of either comes with a migration of its own.
"""

from django.db import migrations

TEMPLATE_CODE = "shop_settings"

SAFETY_RULE_CODES = [
    "contact.wechat", "contact.qq", "contact.phone", "contact.hotline", "contact.email", "contact.url",
    "contact.diversion", "payment.off_platform", "promise.refund", "promise.compensation", "promise.guarantee",
    "ad.superlative", "ad.ranking", "ad.grade", "ad.certainty", "privacy.password", "privacy.verification_code",
    "privacy.id_card", "privacy.bank_card", "claim.refunded", "claim.shipped", "claim.credited",
    "claim.action_done", "length.max",
]
INTENT_CODES = ["complaint", "emotion", "human", "refund", "order_change", "media"]
INTENT_TITLES = {
    "complaint": "投诉 / Complaint",
    "emotion": "强烈情绪 / Strong emotion",
    "human": "要求人工 / Asks for a person",
    "refund": "退款、退货、换货 / Refund, return or exchange",
    "order_change": "改地址、改订单 / Address or order change",
    "media": "图片、媒体、商品卡片 / Image, media or product card",
}

# A phrase must hold something besides "*" and spaces, or it would match everywhere.
PHRASE = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "[^*\\s]"}


def phrase_list(title):
    return {"type": "array", "title": title, "items": PHRASE, "default": []}


PROPERTIES = {
    "reply_safety": {
        "type": "object",
        "title": "回复安全检查 / Reply safety check",
        "additionalProperties": False,
        "default": {},
        "properties": {
            "max_length": {
                "type": "integer", "title": "回复最长字数 / Maximum reply length (characters)",
                "minimum": 20, "maximum": 5000, "default": 800,
            },
            "disabled_rules": {
                "type": "array", "title": "停用的默认规则（规则代码） / Shipped rules switched off (codes)",
                "items": {"type": "string", "enum": SAFETY_RULE_CODES}, "uniqueItems": True, "default": [],
            },
            "patterns": phrase_list("店铺自定义禁用规则（* 代表至多四个字） / The shop's own patterns (* = up to four characters)"),
            "exempt_phrases": phrase_list("豁免短语（其中的命中不算） / Exempt phrases (a hit inside one does not count)"),
        },
        "required": ["max_length", "disabled_rules", "patterns", "exempt_phrases"],
    },
    "handoff": {
        "type": "object",
        "title": "转人工意图 / Handoff intents",
        "additionalProperties": False,
        "default": {},
        "properties": {
            "disabled_intents": {
                "type": "array", "title": "停用的意图 / Intents switched off",
                "items": {"type": "string", "enum": INTENT_CODES}, "uniqueItems": True, "default": [],
            },
            "phrases": {
                "type": "object", "title": "新增短语（按意图，* 代表至多四个字） / Added phrases per intent (* = up to four characters)",
                "additionalProperties": False, "default": {},
                "properties": {code: phrase_list(title) for code, title in INTENT_TITLES.items()},
                "required": INTENT_CODES,
            },
            "removed_phrases": phrase_list("移除的默认短语 / Shipped phrases removed"),
            "exempt_phrases": phrase_list("豁免短语（其中的命中不算） / Exempt phrases (a match inside one does not count)"),
        },
        "required": ["disabled_intents", "phrases", "removed_phrases", "exempt_phrases"],
    },
    "bursts": {
        "type": "object",
        "title": "连发合并（静默窗口） / Bursts (quiet window)",
        "additionalProperties": False,
        "default": {},
        "properties": {
            "base_window_ms": {
                "type": "integer", "title": "基本等待（毫秒） / Base window (ms)",
                "minimum": 0, "maximum": 10000, "default": 350,
            },
            "fragment_window_ms": {
                "type": "integer", "title": "短句未完时的等待（毫秒） / Window after a short fragment (ms)",
                "minimum": 0, "maximum": 10000, "default": 1200,
            },
            "short_fragment_chars": {
                "type": "integer", "title": "短句字数上限 / A fragment is at most (characters)",
                "minimum": 0, "maximum": 100, "default": 6,
            },
            "max_wait_ms": {
                "type": "integer", "title": "自第一句起最长等待（毫秒） / Longest wait after the first line (ms)",
                "minimum": 0, "maximum": 60000, "default": 4000,
            },
            "max_lines": {
                "type": "integer", "title": "最多句数 / At most lines", "minimum": 1, "maximum": 100, "default": 12,
            },
            "max_chars": {
                "type": "integer", "title": "最多字数 / At most characters",
                "minimum": 1, "maximum": 10000, "default": 1600,
            },
        },
        "required": ["base_window_ms", "fragment_window_ms", "short_fragment_chars", "max_wait_ms", "max_lines",
                     "max_chars"],
    },
}


# The forbidden phrases join the safety check as phrases too ("*" a wildcard): one of only spaces or
# wildcards would block every reply.
FORBIDDEN_PHRASE_ITEMS = PHRASE
FORBIDDEN_PHRASE_ITEMS_BEFORE = {"type": "string", "minLength": 1, "maxLength": 200}


def _with_forbidden_items(properties, items):
    if "forbidden_phrases" in properties:
        properties["forbidden_phrases"] = {**properties["forbidden_phrases"], "items": items}
    return properties


def add_properties(apps, schema_editor):
    ConfigTemplate = apps.get_model("configs", "ConfigTemplate")
    template = ConfigTemplate.objects.filter(code=TEMPLATE_CODE).first()
    if template is None:
        return
    schema = dict(template.schema)
    schema["properties"] = _with_forbidden_items({**schema.get("properties", {}), **PROPERTIES},
                                                 FORBIDDEN_PHRASE_ITEMS)
    template.schema = schema
    template.version += 1  # a new schema is a new version, as when the template is changed in the admin
    template.save(update_fields=["schema", "version"])


def remove_properties(apps, schema_editor):
    ConfigTemplate = apps.get_model("configs", "ConfigTemplate")
    UserConfig = apps.get_model("configs", "UserConfig")
    template = ConfigTemplate.objects.filter(code=TEMPLATE_CODE).first()
    if template is None:
        return
    schema = dict(template.schema)
    schema["properties"] = _with_forbidden_items(
        {k: v for k, v in schema.get("properties", {}).items() if k not in PROPERTIES}, FORBIDDEN_PHRASE_ITEMS_BEFORE)
    template.schema = schema
    template.version += 1
    template.save(update_fields=["schema", "version"])
    # Stored values would no longer validate (additionalProperties is false): drop the keys.
    for config in UserConfig.objects.filter(template=template):
        values = {k: v for k, v in (config.values or {}).items() if k not in PROPERTIES}
        if values != config.values:
            config.values = values
            config.save(update_fields=["values"])


class Migration(migrations.Migration):
    dependencies = [("configs", "0004_system_config_key_rule")]

    operations = [migrations.RunPython(add_properties, remove_properties)]
