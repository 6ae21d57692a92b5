"""Round-trip latency of a Celery task on the server-less brokers kefu can use by default.

Starts a real worker for each broker (kombu's filesystem transport, and
SQLAlchemy on a SQLite file), sends N `kefu.ping` tasks one after another and
prints the median and p95 time from send to result, plus whether the broker
answers `celery inspect` (broadcast), which /health and `diagnose` need.

Run: .venv/bin/python bench/broker_latency.py [--tasks 30]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def run(broker: str, tasks: int, workdir: Path) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "kefu.settings.local",
        "KEFU_VAR_DIR": str(workdir),
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": f"file://{workdir}/results",
        "DJANGO_READ_DOT_ENV_FILE": "false",
        "KEFU_ENCRYPTION_KEYS": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    }
    (workdir / "results").mkdir(parents=True, exist_ok=True)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "kefu",
            "worker",
            "-Q",
            "default",
            "-P",
            "solo",
            "-n",
            "bench@local",
            "--without-mingle",
            "--without-gossip",
            "-l",
            "error",
        ],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    code = f"""
import json, os, statistics, time, django
django.setup()
from kefu.celery import app, ping
ping.delay().get(timeout=60)  # warm up: worker ready
samples = []
for _ in range({tasks}):
    t = time.perf_counter()
    ping.delay().get(timeout=30, interval=0.005)
    samples.append((time.perf_counter() - t) * 1000)
try:
    broadcast = bool(app.control.inspect(timeout=2).ping())
except Exception:
    broadcast = False
print(json.dumps({{"samples": samples, "broadcast": broadcast}}))
"""
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300
        )
        import json

        data = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        worker.terminate()
        worker.wait(20)
    samples = sorted(data["samples"])
    return {
        "p50": statistics.median(samples),
        "p95": samples[int(0.95 * (len(samples) - 1))],
        "broadcast": data["broadcast"],
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=30)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, broker in (
            ("filesystem://", "filesystem://localhost//"),
            ("sqla+sqlite", f"sqla+sqlite:///{tmp}/broker.sqlite3"),
        ):
            workdir = Path(tmp) / name.replace("/", "").replace(":", "").replace("+", "_")
            workdir.mkdir()
            rows.append((name, run(broker, args.tasks, workdir)))
    print(f"{'broker':<16}{'p50 ms':>10}{'p95 ms':>10}  broadcast (inspect/ping)")
    for name, r in rows:
        print(f"{name:<16}{r['p50']:>10.1f}{r['p95']:>10.1f}  {'yes' if r['broadcast'] else 'no'}")
    print(f"\nrerun: .venv/bin/python bench/broker_latency.py --tasks {args.tasks}")


if __name__ == "__main__":
    main()
