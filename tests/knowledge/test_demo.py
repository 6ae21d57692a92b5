import pytest

from knowledge.demo import load_demo_knowledge
from knowledge.selectors import knowledge_search

pytestmark = pytest.mark.django_db


def test_demo_knowledge_loads_once_and_answers_buyer_questions(world):
    assert load_demo_knowledge(shop=world.shop, actor=world.superadmin) == 30
    assert load_demo_knowledge(shop=world.shop, actor=world.superadmin) == 0
    hits = knowledge_search(shop=world.shop, text="亲，包油吗？", k=3)
    assert hits[0].external_id == "demo-003"
    assert knowledge_search(shop=world.shop, text="地址写错了能改吗", k=1)[0].external_id == "demo-005"
