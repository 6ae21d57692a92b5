"""Fixtures the pipeline's tests share: a fresh search index per test, a frozen clock, one FAQ item."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from knowledge import services as knowledge_services
from knowledge.index import forget
from tests.configs.factories import shop_settings_template_ensure

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A Wednesday, 14:00 in Shanghai (inside the shipped business hours, 09:00–23:00).
WEDNESDAY_AFTERNOON = datetime(2025, 3, 12, 14, 0, tzinfo=SHANGHAI)
SHELF_LIFE = "蛋糕能保存几天？"
ANSWER = "冷藏条件下建议两天内吃完，口感最好。"


@pytest.fixture
def fresh_indexes():
    """This process's search indexes built anew for the test and dropped after it (items change per test)."""
    forget()
    yield
    forget()


@pytest.fixture
def clock():
    with time_machine.travel(WEDNESDAY_AFTERNOON, tick=False) as traveller:
        yield traveller


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run what is enqueued after a commit (the llm task, eager here) as a worker would."""
    return django_capture_on_commit_callbacks


@pytest.fixture
def faq(world):
    """The shop's one FAQ item: how long the cake keeps."""
    shop_settings_template_ensure()
    return knowledge_services.knowledge_item_create(
        actor=world.superadmin, shop=world.shop, question=SHELF_LIFE, answer=ANSWER,
        keywords=["保存", "冷藏", "保质期"], similar_questions=["保质期多久", "放冰箱能放几天"],
    )
