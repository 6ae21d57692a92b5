"""Seed the "reply prompts" system template: what the LLM is told when it drafts a reply to a buyer.

A shop edits its own copy (a config of this template owned by the shop, versioned like every config);
a shop without one drafts with these defaults. ``{shop_name}`` and ``{tone}`` in the system prompt, and
``{question}`` / ``{answer}`` in the knowledge line, are filled in by the pipeline
(customer_service.pipeline.drafting, whose DEFAULT_PROMPTS the tests compare with these).
"""

from django.db import migrations

CATEGORY = {"code": "shop", "name": "店铺 / Shop", "sort_order": 10}

TEMPLATE_CODE = "reply_prompts"

DEFAULTS = {
    "system_prompt": (
        "你是淘宝/天猫店铺“{shop_name}”的在线客服，正在千牛里回复买家。{tone}\n"
        "规则：只根据下面的店铺知识和对话内容回答，不知道的不要编造，说明会帮买家确认；"
        "不承诺退款、赔偿或任何保证；不说已经为买家办理了什么（如已退款、已发货、已备注）；"
        "不给出微信、QQ、电话、链接等任何站外联系方式；不使用“最”“第一”等绝对化用语。"
        "只输出发给买家的这一条回复，不要解释。"
    ),
    "tone": "语气亲切礼貌，称呼买家为“亲”，回复简短（一般不超过80字），不用Markdown。",
    "knowledge_intro": "店铺知识库中可能相关的问答（按相关程度排列）：",
    "knowledge_item": "问：{question}\n答：{answer}",
    "no_knowledge": "店铺知识库中没有找到相关答案：不要编造商品或服务信息，礼貌地告诉买家会帮他确认。",
    "history_lines": 10,
}

SCHEMA = {
    "type": "object",
    "title": "Reply prompts",
    "additionalProperties": False,
    "properties": {
        "system_prompt": {
            "type": "string", "minLength": 1, "maxLength": 4000, "default": DEFAULTS["system_prompt"],
            "title": "系统提示词（{shop_name} 店铺名，{tone} 语气） / System prompt ({shop_name}, {tone} filled in)",
        },
        "tone": {
            "type": "string", "maxLength": 500, "default": DEFAULTS["tone"],
            "title": "语气 / Tone",
        },
        "knowledge_intro": {
            "type": "string", "maxLength": 500, "default": DEFAULTS["knowledge_intro"],
            "title": "知识库内容前的说明 / Before the knowledge context",
        },
        "knowledge_item": {
            "type": "string", "minLength": 1, "maxLength": 500, "default": DEFAULTS["knowledge_item"],
            "title": "每条知识的格式（{question} 问题，{answer} 答案） / Each knowledge item ({question}, {answer})",
        },
        "no_knowledge": {
            "type": "string", "maxLength": 1000, "default": DEFAULTS["no_knowledge"],
            "title": "没有知识可用时的说明 / When no knowledge matches",
        },
        "history_lines": {
            "type": "integer", "minimum": 0, "maximum": 50, "default": DEFAULTS["history_lines"],
            "title": "带上的此前对话条数 / Earlier lines of the conversation sent along",
        },
    },
    "required": list(DEFAULTS),
}


def seed(apps, schema_editor):
    ConfigCategory = apps.get_model("configs", "ConfigCategory")
    ConfigTemplate = apps.get_model("configs", "ConfigTemplate")
    category, _ = ConfigCategory.objects.get_or_create(code=CATEGORY["code"], defaults=CATEGORY)
    ConfigTemplate.objects.update_or_create(
        code=TEMPLATE_CODE,
        defaults={
            "name": "回复提示词 / Reply prompts",
            "category": category,
            "description": "What the LLM is told when it drafts a reply (customer_service.pipeline.drafting); "
                           "a shop edits its own copy.",
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


class Migration(migrations.Migration):
    dependencies = [("configs", "0007_shop_settings_pipeline")]

    operations = [migrations.RunPython(seed, unseed)]
