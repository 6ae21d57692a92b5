"""Benchmark of the daily statistics roll-up on PostgreSQL: 1M buyer messages, with their replies, review
items, outgoing replies, seller lines and AI usage. Prints figures; not a test.

    .venv/bin/python bench/stats_rollup.py                      # 1M messages, 20 shops, 30 days
    .venv/bin/python bench/stats_rollup.py --messages 200000    # smaller
    .venv/bin/python bench/stats_rollup.py --postgres-url postgres://…/db   # an existing, empty database

Starts a throw-away PostgreSQL (as the tests do) unless given one, migrates it, fills it with generated
traffic by INSERT … SELECT generate_series (seconds, not the figure measured), then times
``daily_statistics_rollup`` over the whole range (every shop, every day), once cold and once warm.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

FILL = """
INSERT INTO customer_service_conversation (created_at, updated_at, shop_id, buyer_id, last_activity_at)
SELECT now(), now(), s.id, 'buyer-' || c, now()
FROM customer_service_shop s, generate_series(1, %(conversations)s) c;

-- Buyer lines, spread evenly over the days; the status decides what else the line gets.
INSERT INTO customer_service_message (created_at, updated_at, shop_id, conversation_id, direction, content, source,
    external_id, status, status_rule, status_detail, received_at, attempts, lease_owner)
SELECT now(), now(), c.shop_id, c.id, 'buyer', '这款有XL吗？', 'api', 'b' || n,
       (ARRAY['answered','answered','answered','review','ignored','new'])[1 + n %% 6], '', '',
       %(start)s::timestamptz + ((n - 1)::float / %(messages)s) * (%(days)s * interval '1 day'), 0, ''
FROM generate_series(1, %(messages)s) n
JOIN customer_service_conversation c ON c.id = %(first_conversation)s + (n::bigint * 7919) %% %(all_conversations)s;

-- A reply for every answered line (knowledge) and every line in review (AI draft); confirmed sends.
INSERT INTO customer_service_reply (created_at, updated_at, message_id, source, text, confidence, matched_phrasing,
    rule, reason)
SELECT now(), now(), m.id, CASE WHEN m.status = 'review' THEN 'ai' ELSE 'kb' END, '亲，有的哦～',
       0.5 + (m.id %% 50) / 100.0, '', '', ''
FROM customer_service_message m WHERE m.status IN ('answered', 'review');

INSERT INTO customer_service_outgoingreply (created_at, updated_at, shop_id, conversation_id, message_id, reply_id,
    text, state, channel, claimed_by, finished_at, receipt_reason)
SELECT m.received_at, now(), m.shop_id, m.conversation_id, m.id, r.id, r.text,
       CASE WHEN m.id %% 97 = 0 THEN 'unknown' ELSE 'confirmed' END, 'api', 'bench',
       m.received_at + (m.id %% 400) * interval '1 second', ''
FROM customer_service_message m JOIN customer_service_reply r ON r.message_id = m.id
WHERE m.status = 'answered';

INSERT INTO customer_service_reviewitem (created_at, updated_at, shop_id, message_id, draft_id, reason, reason_detail,
    status, final_text, note, deadline_at)
SELECT m.received_at, now(), m.shop_id, m.id, r.id, 'kb.draft', '',
       (ARRAY['approved','approved','edited','rejected','pending'])[1 + m.id %% 5], '', '',
       m.received_at + interval '3 minutes'
FROM customer_service_message m JOIN customer_service_reply r ON r.message_id = m.id
WHERE m.status = 'review';

-- A person's answer from the window for every other line in review.
INSERT INTO customer_service_message (created_at, updated_at, shop_id, conversation_id, direction, content, source,
    external_id, status, status_rule, status_detail, received_at, attempts, lease_owner)
SELECT now(), now(), m.shop_id, m.conversation_id, 'seller', '好的', 'qianniu', 's' || m.id, 'answered', '', '',
       m.received_at + (m.id %% 600) * interval '1 second', 0, ''
FROM customer_service_message m WHERE m.status = 'review' AND (m.id / 6) %% 2 = 0;

INSERT INTO billing_usagerecord (created_at, day, request_id, attempt, model_id, config_name, shop_id, usage_type,
    input_tokens, output_tokens, images, cost, latency_ms, status, error_code, error_text)
SELECT m.received_at, (m.received_at AT TIME ZONE 'Asia/Shanghai')::date, 'req' || m.id, 1, %(model)s, '', m.shop_id,
       'chat', 500, 80, 0, 0.002100, 900, 'success', '', ''
FROM customer_service_message m WHERE m.status = 'review';

ANALYZE
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--shops", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--conversations", type=int, default=2000, help="per shop")
    parser.add_argument("--profile", action="store_true", help="print where the warm run spends its time")
    parser.add_argument("--postgres-url", default=os.environ.get("KEFU_BENCH_POSTGRES_URL"))
    args = parser.parse_args()

    server = None
    if not args.postgres_url:
        from tests.plugins.servers import PostgresServer

        server = PostgresServer().start()
        args.postgres_url = server.url
    var = Path(tempfile.mkdtemp(prefix="kefu-bench-stats-"))
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "kefu.settings.local", "DJANGO_READ_DOT_ENV_FILE": "false",
        "DATABASE_URL": args.postgres_url, "KEFU_VAR_DIR": str(var), "REDIS_URL": "", "KEFU_LOG_LEVEL": "WARNING",
        "KEFU_ENCRYPTION_KEYS": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    })
    try:
        run(args)
    finally:
        if server is not None:
            server.stop()


def run(args):
    from datetime import datetime, timedelta

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    from billing.models import AIModel, Provider
    from customer_service.models import Conversation, DailyStatistics, Message, Shop
    from customer_service.statistics.services import daily_statistics_rollup

    today = timezone.localdate()
    first = today - timedelta(days=args.days - 1)
    start = timezone.make_aware(datetime.combine(first, datetime.min.time()))
    shops = [Shop.objects.create(name=f"bench-{n}", qianniu_title=f"bench-{n}") for n in range(args.shops)]
    Shop.objects.filter(pk__in=[s.pk for s in shops]).update(created_at=start - timedelta(days=1))
    provider = Provider.objects.first() or Provider.objects.create(code="custom", name="bench")
    model = AIModel.objects.create(provider=provider, code="bench-model", name="bench")

    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(FILL.split(";\n\n")[0] + ";", {"conversations": args.conversations})
        first_conversation = Conversation.objects.order_by("pk").values_list("pk", flat=True).first()
        params = {"messages": args.messages, "start": start, "days": args.days, "model": model.pk,
                  "first_conversation": first_conversation, "all_conversations": args.conversations * args.shops,
                  "conversations": args.conversations}
        for statement in FILL.split(";\n\n")[1:]:
            cursor.execute(statement, params)
    filled = time.perf_counter() - began
    buyer = Message.objects.filter(direction="buyer").count()
    print(f"generated {buyer:,} buyer lines and {Message.objects.count() - buyer:,} seller lines over {args.shops} "
          f"shops and {args.days} days in {filled:.1f} s")

    for run_name in ("cold", "warm"):
        profiler = None
        if args.profile and run_name == "warm":
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        began = time.perf_counter()
        rows = daily_statistics_rollup(date_from=first, date_to=today)
        took = time.perf_counter() - began
        if profiler is not None:
            import pstats

            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        print(f"roll-up ({run_name}): {rows} shop-day rows from {buyer:,} buyer lines in {took:.1f} s "
              f"({buyer / took:,.0f} lines/s)")
    total = sum(DailyStatistics.objects.values_list("messages", flat=True))
    assert total == buyer, (total, buyer)
    print(f"check: the rows add up to {total:,} buyer lines")
    # The SQL figures against the rows-in-Python path's (the one SQLite uses) for a few shops and days.
    from customer_service.statistics.services import _shop_day_figures_python, shop_day_figures

    sample = (first + timedelta(days=args.days // 2), min(today, first + timedelta(days=args.days // 2 + 2)))
    for shop in shops[:2]:
        sql = shop_day_figures(shop=shop, first=sample[0], last=sample[1])
        assert sql == _shop_day_figures_python(shop=shop, first=sample[0], last=sample[1]), shop
    print(f"check: SQL figures equal the Python path's for 2 shops, {sample[0]}..{sample[1]}")
    print("rerun: .venv/bin/python bench/stats_rollup.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
