"""How long the decision takes per buyer burst, and how many queries it makes. Prints figures; not a test.

    .venv/bin/python bench/decision.py [--rounds 50]

Builds a throw-away SQLite database under /tmp with `bootstrap --demo` (the demo shop and its FAQ,
vectors built by the offline embedder), turns auto mode on with the shipped thresholds, adds keyword
blacklist entries and business hours, then times ``message_decide`` on buyer texts of each kind: demo
FAQ questions (knowledge answers and drafts), handoff intents, blacklisted keywords, a conversation
taken over by a person, and texts the FAQ does not know. The first search builds the shop's index
in this process and is left out (``--rounds`` rounds after one warm-up round). Prints p50 / p95 / max
in milliseconds per kind and overall, the rules decided, and the queries per decision.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

TEXTS = {
    "faq": None,  # the demo FAQ's questions and similar questions, filled in below
    "unknown": ["这款有XL吗", "你们家的包装是什么颜色的", "能不能帮我看看这个尺码合不合适", "亲在吗"],
    "intent": ["我要退款", "再不发货我就投诉", "转人工", "[图片]", "帮我改一下地址", "你们是骗子吧"],
    "keyword": ["能代购吗", "批发价多少"],
    "takeover": ["什么时候发货？", "包邮吗？"],
}


def _pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="kefu-bench-decision-"))
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "kefu.settings.local", "KEFU_VAR_DIR": str(var),
        "DJANGO_READ_DOT_ENV_FILE": "false", "DATABASE_URL": f"sqlite:///{var / 'bench.sqlite3'}",
        "KEFU_ENCRYPTION_KEYS": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "REDIS_URL": "",
        "KEFU_LOG_LEVEL": "WARNING", "KEFU_ADMIN_USER": "admin", "KEFU_ADMIN_PASSWORD": "",
    })
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    call_command("bootstrap", demo=True, stdout=open(os.devnull, "w"))  # noqa: SIM115

    from accounts.models import User
    from configs.services import shop_settings_update
    from customer_service.models import Conversation, Message
    from customer_service.pipeline.decision import message_decide
    from customer_service.shops.models import Shop
    from knowledge.models import KnowledgeItem
    from knowledge.services import knowledge_reindex

    shop = Shop.objects.get(qianniu_title__startswith="kefu演示店")
    knowledge_reindex(items=KnowledgeItem.objects.filter(shop=shop), stale_only=True)
    faq = []
    for item in KnowledgeItem.objects.filter(shop=shop).prefetch_related("similar_questions"):
        faq.append(item.question)
        faq.extend(s.text for s in item.similar_questions.all())
    TEXTS["faq"] = faq
    shop_settings_update(shop=shop, actor=User.objects.get(username="admin"), values={
        "auto_mode": True, "keyword_blacklist": ["代购", "批发"],
        "business_hours": {"enabled": True, "start": "00:00", "end": "24:00"},
        "pipeline": {"away_message": "亲，客服下班啦"},
    })
    now = timezone.now()
    plain = Conversation.objects.create(shop=shop, buyer_id="bench-buyer")
    taken = Conversation.objects.create(shop=shop, buyer_id="bench-taken", takeover_until=now + timedelta(days=1))
    messages = {}
    for kind, texts in TEXTS.items():
        conversation = taken if kind == "takeover" else plain
        messages[kind] = [Message.objects.create(shop=shop, conversation=conversation, content=text,
                                                 external_id=f"bench-{kind}-{i}") for i, text in enumerate(texts)]

    timings, rules, queries = defaultdict(list), Counter(), []
    for round_ in range(args.rounds + 1):
        for kind, rows in messages.items():
            for message in rows:
                message = Message.objects.select_related("shop", "conversation").get(pk=message.pk)
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    decision = message_decide(message=message, text=message.content, now=now)
                    elapsed = (time.perf_counter() - started) * 1000
                if round_ == 0:
                    continue  # warm-up: the first search builds the shop's index in this process
                timings[kind].append(elapsed)
                timings["all"].append(elapsed)
                rules[decision.rule] += 1
                queries.append(len(captured.captured_queries))

    print(f"message_decide, {args.rounds} rounds, SQLite, {len(faq)} FAQ phrasings of shop {shop.name!r}")
    print(f"{'kind':10}{'n':>7}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for kind, values in timings.items():
        print(f"{kind:10}{len(values):>7}{statistics.median(values):>10.2f}{_pct(values, 0.95):>10.2f}"
              f"{max(values):>10.2f}")
    print("rules:", json.dumps(dict(rules.most_common()), ensure_ascii=False))
    print(f"queries per decision: p50 {statistics.median(queries):.0f}, max {max(queries)}")
    print("rerun: .venv/bin/python bench/decision.py --rounds", args.rounds)


if __name__ == "__main__":
    main()
