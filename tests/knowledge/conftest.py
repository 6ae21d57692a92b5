import json
from pathlib import Path

import pytest

from knowledge import services
from knowledge.index import forget

DATA = Path(__file__).parent / "data"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def fresh_process_indexes():
    """Each test starts with no index cached in this process (ids are reused after rollbacks)."""
    forget()
    yield
    forget()


@pytest.fixture
def kb(world):
    """The shipped test FAQ: "cake" items in 甜品旗舰店, "digital" ones in 数码专营店, the rest shared.

    Returns external id → item.
    """
    shops = {"cake": world.shop, "digital": world.other_shop, None: None}
    items = {}
    for row in read_jsonl(DATA / "faq.jsonl"):
        items[row["id"]] = services.knowledge_item_create(
            actor=world.superadmin,
            shop=shops[row.get("shop")],
            question=row["question"],
            answer=row["answer"],
            category=row.get("category", ""),
            keywords=row.get("keywords", []),
            similar_questions=row.get("similar_questions", []),
            external_id=row["id"],
        )
    return items
