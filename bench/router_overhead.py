"""What billing.router costs on top of the provider call, and how fast usage reports are over 1M rows.

1. Router overhead: the same chat request against the same local fake provider (a real
   HTTP server speaking the OpenAI protocol, tests/billing/fake_llm.py), made N times
   directly with the openai SDK and N times through ``billing.router.chat``, interleaved.
   Prints median and p95 of each and of the paired difference (router − direct), for
   a bare call and for a call that reserves and settles a user quota and a shop budget,
   on SQLite and (when available) PostgreSQL. LiteLLM publishes a 2 ms median proxy
   overhead; the aim here is ≤ 1 ms.
2. Usage report: generates 1M usage rows on a throw-away PostgreSQL server (started like
   the test suite's), runs ANALYZE, and times ``usage_report`` (totals, by model, top
   configs, most active users and a grouping) over several ranges.

Run: .venv/bin/python bench/router_overhead.py [--calls 400] [--rows 1000000] [--skip-report] [--skip-postgres]
Each phase runs in its own process (Django settings are per process).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))


def _pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(values_ms):
    return {"median_ms": round(statistics.median(values_ms), 3), "p95_ms": round(_pct(values_ms, 0.95), 3)}


def _setup_django():
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings.test")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


# Phase 1: router overhead -----------------------------------------------------------------


def phase_overhead(calls: int) -> dict:
    _setup_django()
    import openai
    from django.db import connection

    from accounts.models import User
    from billing import router
    from billing.models import AIModel, ModelConfig, ModelPricing, Provider
    from billing.services import budget_set
    from customer_service.models import Shop
    from tests.billing.fake_llm import FakeLLMServer

    server = FakeLLMServer().start()
    provider, _ = Provider.objects.get_or_create(code="bench", defaults={"name": "Bench", "api_style": "openai"})
    provider.default_base_url = server.openai_url
    provider.save()
    model, _ = AIModel.objects.get_or_create(provider=provider, code="bench-model")
    ModelConfig.objects.filter(provider=provider).delete()
    ModelConfig.objects.create(name="bench", provider=provider, model_code="bench-model", model=model,
                                        api_key="sk-bench-000000000000", timeout_seconds=10, is_default=True)
    from datetime import datetime
    from decimal import Decimal

    start = datetime.fromisoformat("2025-01-01T00:00:00+08:00")
    for kind, price in (("input_1k", "0.002"), ("output_1k", "0.003")):
        ModelPricing.objects.get_or_create(model=model, pricing_type=kind, effective_from=start,
                                           defaults={"unit_price": Decimal(price)})
    user, _ = User.objects.get_or_create(username="bench-user", defaults={"daily_request_quota": 10**9})
    user.daily_request_quota = 10**9
    user.save()
    shop, _ = Shop.objects.get_or_create(name="bench-shop")
    budget_set(actor=None, shop=shop, monthly_limit=Decimal("1000000"))

    messages = [{"role": "system", "content": "你是客服"}, {"role": "user", "content": "请问什么时候发货？"}]
    direct_client = openai.OpenAI(api_key="sk-bench-000000000000", base_url=server.openai_url, max_retries=0,
                                  timeout=10)

    def direct():
        response = direct_client.chat.completions.create(model="bench-model", messages=messages)
        return response.choices[0].message.content

    def routed_bare():
        return router.chat(messages).text

    def routed_budgeted():
        return router.chat(messages, user=user, shop=shop, message=1).text

    # Time spent inside the provider client (the SDK call) is measured too, so the router's own
    # time per call (total − SDK) can be given apart from the network and server jitter that the
    # paired difference against a separate direct call still carries.
    from billing.providers.openai_compat import OpenAICompatibleClient

    inside_sdk = [0.0]
    sdk_chat = OpenAICompatibleClient.chat

    def timed_chat(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return sdk_chat(self, *args, **kwargs)
        finally:
            inside_sdk[0] += time.perf_counter() - started

    OpenAICompatibleClient.chat = timed_chat

    for _ in range(50):  # warm up connections, caches, SQLite pages
        direct(), routed_bare(), routed_budgeted()

    timings = {"direct": [], "router_bare": [], "router_budgeted": []}
    own = {"router_bare": [], "router_budgeted": []}
    for _ in range(calls):
        for name, fn in (("direct", direct), ("router_bare", routed_bare), ("router_budgeted", routed_budgeted)):
            inside_sdk[0] = 0.0
            started = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - started
            timings[name].append(elapsed * 1000)
            if name in own:
                own[name].append((elapsed - inside_sdk[0]) * 1000)
    server.stop()
    result = {"vendor": connection.vendor, "calls": calls, "cache": _cache_backend()}
    for name, values in timings.items():
        result[name] = _summary(values)
    for name in ("router_bare", "router_budgeted"):
        result[f"{name}_own_time"] = _summary(own[name])
        paired = [r - d for r, d in zip(timings[name], timings["direct"], strict=True)]
        result[f"{name}_minus_direct"] = {
            "median_of_differences_ms": round(statistics.median(paired), 3),
            "p95_of_differences_ms": round(_pct(paired, 0.95), 3),
            "difference_of_medians_ms": round(statistics.median(timings[name]) - statistics.median(timings["direct"]),
                                              3),
            "difference_of_p95_ms": round(_pct(timings[name], 0.95) - _pct(timings["direct"], 0.95), 3),
        }
    return result


def _cache_backend() -> str:
    from django.conf import settings

    return settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]


# Phase 2: usage report over generated rows --------------------------------------------------


def phase_report(rows: int) -> dict:
    _setup_django()
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from accounts.models import User
    from billing import selectors
    from billing.models import AIModel, ModelConfig, Provider, UsageRecord
    from customer_service.models import Shop

    assert connection.vendor == "postgresql", "the report phase runs on PostgreSQL"
    provider, _ = Provider.objects.get_or_create(code="bench", defaults={"name": "Bench"})
    models = [AIModel.objects.get_or_create(provider=provider, code=f"bench-{i}")[0].pk for i in range(5)]
    configs = []
    for i, model_id in enumerate(models):
        config, _ = ModelConfig.objects.get_or_create(
            name=f"bench-{i}", defaults={"provider": provider, "model_code": f"bench-{i}", "model_id": model_id,
                                         "api_key": "sk-bench-000000000000"})
        configs.append(config.pk)
    users = [User.objects.get_or_create(username=f"bench-{i}")[0].pk for i in range(20)]
    shops = [Shop.objects.get_or_create(name=f"bench-shop-{i}")[0].pk for i in range(10)]

    existing = UsageRecord.objects.count()
    started = time.perf_counter()
    if existing < rows:
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO billing_usagerecord (created_at, day, request_id, attempt, model_id, config_id, config_name,
                    user_id, shop_id, message_ref, usage_type, input_tokens, output_tokens, images, cost, latency_ms,
                    status, error_code, error_text)
                SELECT t.at, (t.at AT TIME ZONE 'Asia/Shanghai')::date,
                       g::text, 1, (ARRAY{models})[1 + mod(g, 5)], (ARRAY{configs})[1 + mod(g, 5)], 'bench',
                       (ARRAY{users})[1 + mod(g, 20)], (ARRAY{shops})[1 + mod(g, 10)], g, 'chat',
                       100 + mod(g, 500), 20 + mod(g, 200), 0,
                       round(((100 + mod(g, 500)) * 0.002 + (20 + mod(g, 200)) * 0.003) / 1000, 6),
                       300 + mod(g, 900),
                       CASE WHEN mod(g, 50) = 0 THEN 'error' ELSE 'success' END, '', ''
                FROM generate_series(%s, %s) AS g,
                     LATERAL (SELECT now() - mod(g, 90) * interval '1 day' - mod(g, 86399) * interval '1 second'
                              AS at) AS t
                """,
                [existing + 1, rows],
            )
            cursor.execute("VACUUM ANALYZE billing_usagerecord")
    generated_s = time.perf_counter() - started

    now = timezone.now()
    scenarios = {
        "all rows, by model": {"date_from": None, "date_to": None, "by": "model"},
        "all rows, by day": {"date_from": None, "date_to": None, "by": "day"},
        "last 30 days, by shop": {"date_from": now - timedelta(days=30), "date_to": None, "by": "shop"},
        "last 7 days, by user": {"date_from": now - timedelta(days=7), "date_to": None, "by": "user"},
        "one shop, last 30 days, by day": {"date_from": now - timedelta(days=30), "date_to": None, "by": "day",
                                               "shop": shops[0]},
    }
    results = {"rows": UsageRecord.objects.count(), "generate_seconds": round(generated_s, 1), "scenarios": {}}
    for name, params in scenarios.items():
        by = params.pop("by")
        times = []
        for _ in range(3):
            started = time.perf_counter()
            report = selectors.usage_report(selectors.usage_filter(**params), by=by)
            times.append((time.perf_counter() - started) * 1000)
        if os.environ.get("BENCH_EXPLAIN"):
            qs = selectors.usage_filter(**params).order_by().values("model_id", "config_id", "user_id", "shop_id")
            print(name, "\n", qs.annotate(**selectors._totals_expr()).explain(analyze=True), file=sys.stderr)
            if by in ("day", "status"):
                grouped = selectors.usage_filter(**params).order_by().values(by).annotate(
                    **selectors._totals_expr()).order_by(by)
                print(grouped.explain(analyze=True), file=sys.stderr)
        results["scenarios"][name] = {"median_ms": round(statistics.median(times), 1),
                                      "max_ms": round(max(times), 1), "calls": report["totals"]["calls"]}
    return results


# Orchestration --------------------------------------------------------------------------------


def _run_phase(args: list[str], env: dict) -> dict:
    output = subprocess.run([sys.executable, __file__, *args], env=env, stdout=subprocess.PIPE, text=True,
                            cwd=PROJECT)  # the phase's stderr (errors, BENCH_EXPLAIN plans) goes straight through
    if output.returncode != 0:
        raise SystemExit(f"phase {args} failed (see above)")
    return json.loads(output.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-report", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true", help="only the usage-report phase")
    parser.add_argument("--skip-postgres", action="store_true", help="overhead on SQLite only, no report")
    parser.add_argument("--phase", choices=["overhead", "report"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase == "overhead":
        print(json.dumps(phase_overhead(args.calls)))
        return
    if args.phase == "report":
        print(json.dumps(phase_report(args.rows)))
        return

    # SIGTERM unwinds like Ctrl-C, so the PostgreSQL server started below is stopped in `finally`.
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    base_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "kefu.settings.test", "DJANGO_READ_DOT_ENV_FILE": "false"}
    base_env.pop("DATABASE_URL", None)
    results = {}
    if not args.skip_overhead:
        with tempfile.TemporaryDirectory(prefix="kefu-bench-") as workdir:
            env = {**base_env, "KEFU_TEST_RUNTIME_DIR": workdir}
            results["overhead_sqlite"] = _run_phase(["--phase", "overhead", "--calls", str(args.calls)], env)
            _print(results)
    pg = None
    if not args.skip_postgres:
        from tests.plugins.servers import PostgresServer

        pg = PostgresServer().start()
    try:
        if pg:
            with tempfile.TemporaryDirectory(prefix="kefu-bench-") as workdir:
                env = {**base_env, "KEFU_TEST_RUNTIME_DIR": workdir, "DATABASE_URL": pg.url}
                if not args.skip_overhead:
                    results["overhead_postgres"] = _run_phase(["--phase", "overhead", "--calls", str(args.calls)],
                                                              env)
                    _print({"overhead_postgres": results["overhead_postgres"]})
                if not args.skip_report:
                    results["report_postgres"] = _run_phase(["--phase", "report", "--rows", str(args.rows)], env)
    finally:
        if pg:
            pg.stop()

    if "report_postgres" in results:
        _print({"report_postgres": results["report_postgres"]})
    print("\n" + json.dumps(results))


def _print(results: dict) -> None:
    for key in ("overhead_sqlite", "overhead_postgres"):
        if key not in results:
            continue
        r = results[key]
        print(f"\nRouter overhead on {r['vendor']} ({r['calls']} calls each, cache {r['cache']}):")
        print(f"  {'':<18}{'median ms':>12}{'p95 ms':>10}")
        for name in ("direct", "router_bare", "router_budgeted"):
            print(f"  {name:<18}{r[name]['median_ms']:>12}{r[name]['p95_ms']:>10}")
        for name in ("router_bare", "router_budgeted"):
            d = r[f"{name}_minus_direct"]
            print(f"  {name} − direct: median {d['difference_of_medians_ms']} ms, p95 {d['difference_of_p95_ms']} ms "
                  f"(paired: median {d['median_of_differences_ms']} ms, p95 {d['p95_of_differences_ms']} ms)")
            o = r[f"{name}_own_time"]
            print(f"  {name} own time (total − time inside the SDK call): median {o['median_ms']} ms, "
                  f"p95 {o['p95_ms']} ms")
    if "report_postgres" in results:
        r = results["report_postgres"]
        print(f"\nusage_report on PostgreSQL over {r['rows']:,} rows (generated in {r['generate_seconds']} s):")
        for name, s in r["scenarios"].items():
            print(f"  {name:<34} median {s['median_ms']:>8} ms  max {s['max_ms']:>8} ms  ({s['calls']:,} calls)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
