import factory

from configs.models import ConfigCategory, ConfigTemplate
from tests.accounts.factories import UserFactory  # noqa: F401 - re-exported for configs tests

LLM_SCHEMA = {
    "type": "object",
    "title": "LLM routing",
    "additionalProperties": False,
    "properties": {
        "model": {"type": "string", "minLength": 1, "default": "deepseek-chat"},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2, "default": 0.7},
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": 32000, "default": 1024},
        "api_key": {"type": "string", "writeOnly": True, "minLength": 8, "title": "API key"},
        "proxy": {
            "type": "object",
            "default": {},
            "properties": {
                "url": {"type": "string", "default": ""},
                "password": {"type": "string", "writeOnly": True},
            },
        },
        "prompts": {"type": "array", "items": {"type": "string"}, "default": []},
    },
    "required": ["model", "temperature"],
}


class ConfigCategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConfigCategory

    code = factory.Sequence(lambda n: f"cat-{n}")
    name = factory.Sequence(lambda n: f"Category {n}")


class ConfigTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConfigTemplate

    code = factory.Sequence(lambda n: f"llm-{n}")
    name = factory.Sequence(lambda n: f"LLM routing {n}")
    category = factory.SubFactory(ConfigCategoryFactory)
    schema = factory.LazyFunction(lambda: LLM_SCHEMA)
    defaults = factory.LazyFunction(dict)


# Data migrations that build the shop settings template, in order. A transactional test flushes the
# database, seeded rows included: tests that need the template run them again.
SHOP_SETTINGS_MIGRATIONS = (
    ("configs.migrations.0002_seed_shop_settings_template", "seed"),
    ("configs.migrations.0005_shop_settings_reply_rules", "add_properties"),
    ("configs.migrations.0006_shop_settings_drop_ai_model_config_id", "drop"),
    ("configs.migrations.0007_shop_settings_pipeline", "add_properties"),
    ("configs.migrations.0009_shop_settings_desktop", "add_properties"),
)


def shop_settings_template_ensure() -> ConfigTemplate:
    """The seeded ``shop_settings`` template, seeded again (all its migrations) when a flush removed it."""
    import importlib

    from django.apps import apps

    if not ConfigTemplate.objects.filter(code="shop_settings").exists():
        for module, function in SHOP_SETTINGS_MIGRATIONS:
            getattr(importlib.import_module(module), function)(apps, None)
    return ConfigTemplate.objects.get(code="shop_settings")
