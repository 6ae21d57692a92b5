import importlib

import pytest
from django.apps import apps

from customer_service.models import ReplyTemplate
from customer_service.pipeline.safety import SafetySettings, safety_check
from customer_service.review.selectors import reply_templates_for_shop
from tests.customer_service.factories import ReplyTemplateFactory

seed_migration = importlib.import_module("customer_service.migrations.0008_reply_templates_seed")

pytestmark = pytest.mark.django_db


def seeded():
    if not ReplyTemplate.objects.filter(code="hello", shop__isnull=True).exists():  # a flush removed them
        seed_migration.seed(apps, None)


@pytest.mark.parametrize(("code", "title", "text"), seed_migration.TEMPLATES, ids=lambda v: v if isinstance(v, str)
                         and v.isascii() else "")
def test_every_seeded_template_passes_the_shipped_pre_send_check(code, title, text):
    result = safety_check(text, settings=SafetySettings(), ai_draft=False, context=[])
    assert result.ok, (code, result.codes)


def test_the_seed_gives_shared_templates_and_leaves_taken_codes_alone(world):
    seeded()
    ReplyTemplate.objects.filter(code="hello").update(text="您好，我是小蜜～")
    seed_migration.seed(apps, None)  # again: nothing doubled, the edit kept
    assert ReplyTemplate.objects.filter(shop__isnull=True).count() == len(seed_migration.TEMPLATES)
    assert ReplyTemplate.objects.get(code="hello").text == "您好，我是小蜜～"
    seed_migration.unseed(apps, None)
    assert list(ReplyTemplate.objects.values_list("code", flat=True)) == ["hello"]


def test_a_shops_own_template_wins_over_the_shared_one_of_its_code(world):
    seeded()
    ReplyTemplateFactory(shop=world.shop, code="hello", text="欢迎光临甜品旗舰店～")
    ReplyTemplateFactory(shop=world.shop, code="off", text="停用的", is_active=False)
    mine = reply_templates_for_shop(shop=world.shop)
    assert mine["hello"]["text"] == "欢迎光临甜品旗舰店～" and not mine["hello"]["shared"]
    assert mine["wait"]["shared"] and "off" not in mine
    assert reply_templates_for_shop(shop=world.other_shop)["hello"]["text"] != "欢迎光临甜品旗舰店～"
