"""Demo knowledge for ``bootstrap --demo``: thirty everyday questions of a Chinese online shop."""

import json
from pathlib import Path

from .models import KnowledgeItem
from .services import knowledge_item_create

DEMO_FILE = Path(__file__).with_name("demo_faq.jsonl")


def load_demo_knowledge(*, shop, actor) -> int:
    """Add the demo FAQ to ``shop`` (None: as shared items); rows already there (same id) are left alone.

    Returns how many items were created. Vectors are built after commit by the reindex task.
    """
    existing = set(KnowledgeItem.all_objects.filter(shop=shop).values_list("external_id", flat=True))
    created = 0
    for line in DEMO_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if row["id"] in existing:
            continue
        knowledge_item_create(actor=actor, shop=shop, question=row["question"], answer=row["answer"],
                              category=row.get("category", ""), keywords=row.get("keywords", []),
                              similar_questions=row.get("similar_questions", []), external_id=row["id"])
        created += 1
    return created
