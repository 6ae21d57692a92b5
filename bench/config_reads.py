"""Benchmark of config reads and write-to-read visibility across processes. Prints figures; not a test.

    .venv/bin/python bench/config_reads.py            # file cache (no server)
    .venv/bin/python bench/config_reads.py --redis    # Redis cache (starts redis-server)

Uses a throw-away SQLite database and cache directory under /tmp. (It belongs in bench/, which the
configs work could not write to.)
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

CHILD = """
import sys, time, django
django.setup()
from customer_service.models import Shop
from configs.selectors import shop_settings_get
shop = Shop.objects.get(pk=int(sys.argv[1]))
last, seen, deadline = None, 0, time.time() + 60
print("ready", flush=True)
while seen < int(sys.argv[2]) and time.time() < deadline:
    value = shop_settings_get(shop=shop)["reply_delay_seconds"]
    if value != last:
        print(f"{value} {time.time():.6f}", flush=True)
        last, seen = value, seen + 1
"""


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def timed(fn, n):
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1e6)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", action="store_true")
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--writes", type=int, default=30)
    args = parser.parse_args()

    var = Path(tempfile.mkdtemp(prefix="kefu-bench-configs-"))
    env = {"DJANGO_SETTINGS_MODULE": "kefu.settings.local", "KEFU_VAR_DIR": str(var),
           "DJANGO_READ_DOT_ENV_FILE": "false", "DATABASE_URL": f"sqlite:///{var / 'bench.sqlite3'}",
           "KEFU_ENCRYPTION_KEYS": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "REDIS_URL": "",
           "KEFU_LOG_LEVEL": "WARNING"}
    redis = None
    if args.redis:
        from tests.plugins.servers import RedisServer

        redis = RedisServer().start()
        env["REDIS_URL"] = redis.url
    os.environ.update(env)
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from accounts.models import User
        from configs import services
        from configs.selectors import shop_settings_get
        from customer_service.models import Shop

        root = User.objects.create(username="bench", is_superadmin=True, is_staff=True)
        shop = Shop.objects.create(name="bench shop")
        services.shop_settings_update(shop=shop, actor=root, values={"auto_mode": True})

        warm = timed(lambda: shop_settings_get(shop=shop), args.n)

        from configs import cache as keys
        from configs.selectors import shop_settings_config

        dropped = [keys.config_key(shop_settings_config(shop=shop)), keys.template_key("shop_settings")]

        def cold():
            keys.invalidate(*dropped)
            shop_settings_get(shop=shop)

        cold_t = timed(cold, min(args.n, 500))
        writes = timed(lambda: services.shop_settings_update(shop=shop, actor=root, values={"auto_mode": True}),
                       min(args.n, 200))

        child = subprocess.Popen([sys.executable, "-c", CHILD, str(shop.pk), str(args.writes + 1)],
                                 cwd=PROJECT, env={**os.environ}, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
        child.stdout.readline()  # the current value
        lags = []
        for i in range(args.writes):
            services.shop_settings_update(shop=shop, actor=root, values={"reply_delay_seconds": 100 + i})
            committed = time.time()
            line = child.stdout.readline()
            if not line:
                raise SystemExit(f"the reader process stopped: {child.stderr.read()[-3000:]}")
            value, seen_at = line.split()
            assert int(float(value)) == 100 + i, value
            lags.append((float(seen_at) - committed) * 1e3)
        child.wait(10)

        kind = "Redis" if args.redis else "file cache"
        print(f"cache: {kind}; database: SQLite; n={args.n}")
        print(f"shop_settings_get, cached:   median {statistics.median(warm):8.1f} µs  "
              f"p95 {percentile(warm, .95):8.1f} µs")
        print(f"shop_settings_get, uncached: median {statistics.median(cold_t):8.1f} µs  "
              f"p95 {percentile(cold_t, .95):8.1f} µs  (includes invalidating the 2 keys)")
        print(f"shop_settings_update:        median {statistics.median(writes) / 1e3:8.2f} ms  p95 "
              f"{percentile(writes, .95) / 1e3:8.2f} ms  (validate + version + history + invalidate, one commit)")
        print(f"write → read in another process: {args.writes}/{args.writes} writes seen; lag median "
              f"{statistics.median(lags):.2f} ms, max {max(lags):.2f} ms (after commit; includes the reader's poll)")
    finally:
        if redis:
            redis.stop()


if __name__ == "__main__":
    main()
