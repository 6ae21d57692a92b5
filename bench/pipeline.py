"""The reply pipeline end to end: ingest → decision → outbox / review. Prints figures; not a test.

    .venv/bin/python bench/pipeline.py [--messages 200] [--rate-lines 600] [--overhead 100]
                                       [--db sqlite postgres] [--phases throughput rate overhead]

For each database — SQLite with the embedded filesystem broker (the default install), and PostgreSQL
with Redis (servers started in temporary folders, as the tests do) — it builds a fresh database with
`bootstrap --demo` (the demo shop, its FAQ and vectors), turns auto mode on, points the shop's LLM at a
loopback OpenAI-compatible server (tests/billing/fake_llm.py) and serves the API with gunicorn as
`make run` does (2 workers × 4 threads). Then, for the LLM answering in 0 ms and in 500 ms, and 1 and 4
Celery worker processes (prefork):

- throughput: 50 concurrent clients post ``--messages`` buyer lines (distinct buyers, half of them demo
  FAQ questions answered from the knowledge base, half questions it does not know, drafted by the LLM)
  through gunicorn; messages/s = lines / (last line answered or in review − first post);
- ingest API: p50 / p95 of those POST /api/messages/ calls under the 50 concurrent clients;
- errors: non-201 answers, lines not answered / in review at the end, failed lines, worker log errors.

Worker rate (the ≥ 100 knowledge-answered lines/s per worker target): ``--rate-lines`` buyer lines the
knowledge base answers on its own (the demo questions auto mode sends, one buyer each) are queued with no
worker running; then 1 (and 2) worker processes answer them; lines/s = lines answered after every worker
process finished its first task (which loads the knowledge index) / the time from then to the end of the last
line's task, from the worker's log: a task that answers a batch of lines leaves the others' tasks to run, and
they count. Per worker = that / processes. Too few lines for the workers' speed leave nothing after the first
tasks: the table then says so, and more ``--rate-lines`` measure it.

Per-message kefu overhead excluding the LLM: in this process, with tasks run inline (no broker, no quiet
window), ``message_ingest`` of ``--overhead`` lines through decision to the outbox (knowledge answers) or
to review with an LLM draft from the 0 ms server, minus the LLM call's recorded latency; p50 / p95.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

UNKNOWN = ["这款有XL吗", "你们家的包装是什么颜色的", "能不能帮我看看这个尺码合不合适", "水果是新鲜的吗",
           "可以送到公司吗", "芒果味还有吗", "巧克力的会不会太腻", "能不能晚上送到"]
CLIENTS = 50
PHASES = ("throughput", "rate", "overhead")
PASSWORD = "Bench-Pass-phrase-1"


def _pct(values, q):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


# -- the child: one database, every combination --------------------------------------------------------------

def child(db: str, messages: int, overhead: int, phases=PHASES, rate_lines: int = 600) -> dict:
    from tests.plugins.servers import PostgresServer, RedisServer

    var = Path(tempfile.mkdtemp(prefix=f"kefu-bench-pipeline-{db}-"))
    servers = []
    env = {
        "DJANGO_SETTINGS_MODULE": "kefu.settings.local", "KEFU_VAR_DIR": str(var), "DJANGO_READ_DOT_ENV_FILE": "false",
        "KEFU_ENCRYPTION_KEYS": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "KEFU_LOG_LEVEL": "WARNING",
        "KEFU_ADMIN_USER": "admin", "KEFU_ADMIN_PASSWORD": PASSWORD, "DJANGO_SECRET_KEY": "bench-" + "x" * 50,
        "KEFU_THROTTLE_USER": "1000000/minute", "DJANGO_DEBUG": "false",
    }
    if db == "postgres":
        postgres, redis = PostgresServer().start(), RedisServer().start()
        servers += [postgres, redis]
        env.update({"DATABASE_URL": postgres.url, "REDIS_URL": redis.url, "CELERY_BROKER_URL": redis.url})
    else:
        env.update({"DATABASE_URL": f"sqlite:///{var / 'bench.sqlite3'}", "REDIS_URL": "",
                    "CELERY_BROKER_URL": "filesystem://localhost//"})
    os.environ.update(env)
    processes = []
    try:
        return _run_child(db, messages, overhead, env, var, processes, phases, rate_lines)
    finally:
        for process in processes:
            _stop(process)
        for server in servers:
            server.stop()
        shutil.rmtree(var, ignore_errors=True)


def _run_child(db, messages, overhead, env, var, processes, phases, rate_lines) -> dict:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("bootstrap", demo=True, stdout=open(os.devnull, "w"))  # noqa: SIM115

    from accounts.models import User
    from billing.egress import ALLOWED_HOSTS_KEY
    from configs.models import SystemConfig
    from configs.services import shop_settings_update
    from customer_service.models import Conversation, Message, OutgoingReply, ReviewItem, Shop
    from knowledge.models import KnowledgeItem
    from knowledge.services import knowledge_reindex
    from tests.billing.factories import ModelConfigFactory, ProviderFactory, priced
    from tests.billing.fake_llm import FakeLLMServer

    admin = User.objects.get(username="admin")
    shop = Shop.objects.get(qianniu_title__startswith="kefu演示店")
    knowledge_reindex(items=KnowledgeItem.objects.filter(shop=shop), stale_only=True)
    faq = list(KnowledgeItem.objects.filter(shop=shop).values_list("question", flat=True))
    shop_settings_update(shop=shop, actor=admin, values={"auto_mode": True})
    llm = FakeLLMServer().start()
    SystemConfig.objects.update_or_create(key=ALLOWED_HOSTS_KEY, defaults={
        "value_type": "json", "value": json.dumps([f"127.0.0.1:{llm.port}"])})
    provider = ProviderFactory(code="custom", api_style="openai", default_base_url=llm.openai_url)
    config = ModelConfigFactory(provider=provider, model_code="bench-llm", name="bench-llm", is_default=True,
                                timeout_seconds=10)
    priced(config.model)

    port = _free_port()
    web_log = (var / "gunicorn.log").open("w")
    processes.append(subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "kefu.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--threads", "4"],
        cwd=PROJECT, env={**os.environ}, stdout=web_log, stderr=subprocess.STDOUT, start_new_session=True))
    base = f"http://127.0.0.1:{port}"
    _wait_http(f"{base}/api/", 120)
    token = _post(f"{base}/api/auth/login", {"username": "admin", "password": PASSWORD})[1]["access"]

    results = []
    rng = random.Random(7)
    for delay in (0.0, 0.5) if "throughput" in phases else ():
        llm.behave("bench-llm", "slow", delay=delay) if delay else llm.behave("bench-llm", "ok")
        for workers in (1, 4):
            Message.objects.all().delete()
            Conversation.objects.all().delete()
            worker_log = var / f"worker-{delay}-{workers}.log"
            worker = _start_worker(worker_log, workers, f"bench-{workers}-{delay}")
            processes.append(worker)
            lines = [(f"bench-{delay}-{workers}-{i}", f"买家{i}", rng.choice(faq) if i % 2 else rng.choice(UNKNOWN))
                     for i in range(messages)]
            started = time.monotonic()
            with ThreadPoolExecutor(CLIENTS) as pool:
                answers = list(pool.map(lambda line: _timed_post(base, token, shop.pk, *line), lines))
            # Generous: a slow machine shows up as a low rate, not as lines counted unfinished.
            done_at = _wait_final(Message, messages, timeout=300 + messages * delay * 2)
            elapsed = (done_at or time.monotonic()) - started
            statuses = dict(Counter(Message.objects.values_list("status", flat=True)))
            log_errors = sum(1 for line in worker_log.read_text(errors="replace").splitlines()
                             if " ERROR/" in line or "Traceback" in line)
            bad_http = sum(1 for status, _ in answers if status != 201)
            unfinished = messages - statuses.get("answered", 0) - statuses.get("review", 0)
            results.append({
                "db": db, "llm_ms": int(delay * 1000), "workers": workers, "messages": messages,
                "per_s": messages / elapsed, "ingest_p50": statistics.median(ms for _, ms in answers),
                "ingest_p95": _pct([ms for _, ms in answers], 0.95),
                "errors": bad_http + unfinished + log_errors, "detail": {
                    "http_not_201": bad_http, "not_final": unfinished, "worker_log_errors": log_errors,
                    "statuses": statuses, "outbox": OutgoingReply.objects.count(),
                    "review": ReviewItem.objects.count()},
            })
            _stop(worker)
            print(f"{db} {int(delay * 1000)} ms × {workers}: {results[-1]}", file=sys.stderr, flush=True)
    if "rate" in phases:
        answered = _auto_answered(shop, admin, faq)
        for workers in (1, 2):
            results.append(_worker_rate(db, shop, admin, answered, rate_lines, workers, var, processes))
            print(f"{db} worker rate × {workers}: {results[-1]}", file=sys.stderr, flush=True)
    if "overhead" in phases:
        results.append({"db": db, "overhead": _overhead(shop, admin, faq, overhead, llm)})
    llm.stop()
    return results


def _start_worker(log: Path, workers: int, name: str):
    """A Celery worker (prefork, ``workers`` processes) on the pipeline's queues, once it is ready."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "kefu", "worker", "-Q", "default,llm", "-c", str(workers),
         "-n", f"{name}@localhost", "--without-mingle", "--without-gossip", "-l", "info"],
        cwd=PROJECT, env={**os.environ}, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    _wait_worker(log, 120)
    return worker


def _auto_answered(shop, admin, faq) -> list[str]:
    """The demo questions the knowledge base answers on its own (asked once each, tasks inline)."""
    from customer_service.models import Conversation, Message
    from customer_service.pipeline.services import message_ingest
    from kefu.celery import app

    app.conf.task_always_eager = True
    try:
        found = []
        for i, text in enumerate(faq):
            message, _ = message_ingest(shop=shop, buyer_id=f"probe{i}", content=text, external_id=f"probe-{i}",
                                        actor=admin)
            if Message.objects.get(pk=message.pk).status == "answered":
                found.append(text)
    finally:
        app.conf.task_always_eager = False
    Message.objects.all().delete()
    Conversation.objects.all().delete()
    return found


def _worker_rate(db, shop, admin, answered, count, workers, var, processes) -> dict:
    """Knowledge-answered lines queued with no worker running, then answered by ``workers`` processes."""
    from customer_service.models import Conversation, Message
    from customer_service.pipeline.services import message_ingest

    for i in range(count):
        message_ingest(shop=shop, buyer_id=f"rate{workers}-{i}", content=answered[i % len(answered)],
                       external_id=f"rate-{workers}-{i}", actor=admin)
    time.sleep(1.5)  # every line past its quiet window
    log = var / f"worker-rate-{workers}.log"
    worker = _start_worker(log, workers, f"rate-{workers}")
    processes.append(worker)
    _wait_final(Message, count, timeout=300)
    tasks = _tasks_done(log, count, timeout=120)
    _stop(worker)
    answered_count = Message.objects.filter(status="answered").count()
    # From when every worker process has finished its first task (which loads the knowledge index and the
    # embedder) to the end of the last task: the lines answered in between, every task run in between.
    first_ends = {}
    for end, process, _outcome in tasks:
        first_ends.setdefault(process, end)
    start, last = max(first_ends.values()), tasks[-1][0]
    measured = Message.objects.filter(status="answered", answered_at__gt=start).count()
    seconds = (last - start).total_seconds()
    statuses = dict(Counter(Message.objects.values_list("status", flat=True)))
    Message.objects.all().delete()
    Conversation.objects.all().delete()
    rate = measured / seconds if seconds else float("nan")
    return {"db": db, "rate_workers": workers, "lines": count, "per_s": rate, "per_worker": rate / workers,
            "measured_lines": measured, "not_answered": count - answered_count, "statuses": statuses,
            "task_outcomes": dict(Counter(outcome for _end, _process, outcome in tasks))}


_TASK_DONE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}): \w+/([\w-]+)\] "
                        r"Task pipeline\.process_message\[[^]]*\] succeeded in [\d.e-]+s: '(\w+)'")


def _tasks_done(log: Path, count: int, timeout: float) -> list[tuple[datetime, str, str]]:
    """The worker's finished process tasks (end time, process, outcome), once ``count`` have finished. The log's
    times are local (Django sets the process's time zone), made aware here."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in map(_TASK_DONE.match, log.read_text(errors="replace").splitlines()) if m]
        if len(found) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return sorted((datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").astimezone(), m.group(2), m.group(3))
                  for m in found)


def _stop(process) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _post(url, body, token=None):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def _timed_post(base, token, shop_id, external_id, buyer, content):
    started = time.perf_counter()
    status, _ = _post(f"{base}/api/messages/", {"shop": shop_id, "buyer_id": buyer, "content": content,
                                                 "external_id": external_id}, token)
    return status, (time.perf_counter() - started) * 1000


def _wait_worker(log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and " ready." in log.read_text(errors="replace"):
            return
        time.sleep(0.3)
    raise RuntimeError(f"the worker did not start: {log.read_text()[-2000:]}")


def _wait_final(Message, expected: int, timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Message.objects.filter(status__in=["answered", "review", "ignored", "failed"]).count() >= expected:
            return time.monotonic()
        time.sleep(0.1)
    return None


def _overhead(shop, admin, faq, count, llm) -> dict:
    """kefu's own time per line, tasks inline: ingest → decision → outbox, or → LLM draft → review."""
    from billing.models import UsageRecord
    from customer_service.models import Message
    from customer_service.pipeline.services import message_ingest
    from kefu.celery import app

    llm.behave("bench-llm", "ok")
    app.conf.task_always_eager = True
    timings = {"knowledge answer": [], "LLM draft": []}
    for i in range(count + 4):
        text = faq[i % len(faq)] if i % 2 else UNKNOWN[i % len(UNKNOWN)]
        started = time.perf_counter()
        message, _ = message_ingest(shop=shop, buyer_id=f"over{i}", content=text, external_id=f"over-{i}",
                                    actor=admin)
        elapsed = (time.perf_counter() - started) * 1000
        message = Message.objects.get(pk=message.pk)
        llm_ms = sum(UsageRecord.objects.filter(message_ref=message.pk).values_list("latency_ms", flat=True))
        if i < 4:
            continue  # warm-up: indexes and caches of this process
        kind = "knowledge answer" if message.status == "answered" else "LLM draft"
        timings[kind].append(elapsed - llm_ms)
    app.conf.task_always_eager = False
    return {kind: {"n": len(values), "p50": statistics.median(values) if values else float("nan"),
                   "p95": _pct(values, 0.95)} for kind, values in timings.items()}


# -- the parent: one child per database, then the table --------------------------------------------------------

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rate-lines", type=int, default=600)
    parser.add_argument("--overhead", type=int, default=100)
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    parser.add_argument("--phases", nargs="+", default=list(PHASES), choices=PHASES)
    parser.add_argument("--child", choices=["sqlite", "postgres"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args.child, args.messages, args.overhead, args.phases, args.rate_lines),
                                     ensure_ascii=False))
        return
    rows = []
    for db in args.db:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KEFU_", "DATABASE_URL",
                                                                        "REDIS", "CELERY"))}
        done = subprocess.run([sys.executable, __file__, "--child", db, "--messages", str(args.messages),
                               "--rate-lines", str(args.rate_lines), "--overhead", str(args.overhead),
                               "--phases", *args.phases], cwd=PROJECT, env=env,
                              stdout=subprocess.PIPE, text=True)
        found = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        if not found:
            print(f"{db}: the run failed:\n{done.stdout[-3000:]}")
            continue
        rows.extend(json.loads(found[-1][len("RESULT "):]))
    print(f"reply pipeline, {args.messages} lines per run (half demo FAQ questions, half drafted), {CLIENTS} "
          f"concurrent clients through gunicorn (2 workers × 4 threads)")
    print(f"{'database':22}{'LLM':>7}{'workers':>9}{'msg/s':>9}{'ingest p50':>12}{'ingest p95':>12}{'errors':>8}")
    names = {"sqlite": "SQLite + filesystem", "postgres": "PostgreSQL + Redis"}
    for row in rows:
        if "overhead" in row or "rate_workers" in row:
            continue
        print(f"{names[row['db']]:22}{row['llm_ms']:>5}ms{row['workers']:>9}{row['per_s']:>9.1f}"
              f"{row['ingest_p50']:>10.0f}ms{row['ingest_p95']:>10.0f}ms{row['errors']:>8}")
    print(f"\nworker rate: {args.rate_lines} knowledge-answered lines queued beforehand, answered by the worker(s)")
    print(f"{'database':22}{'workers':>9}{'lines/s':>10}{'per worker':>12}{'ms/line':>9}{'measured':>10}"
          f"{'not answered':>14}")
    for row in rows:
        if "rate_workers" in row and not row["measured_lines"]:
            print(f"{names[row['db']]:22}{row['rate_workers']:>9}   not measured: every line was answered before each "
                  f"worker had finished its first task; rerun with more --rate-lines")
        elif "rate_workers" in row:
            print(f"{names[row['db']]:22}{row['rate_workers']:>9}{row['per_s']:>10.1f}{row['per_worker']:>12.1f}"
                  f"{1000 / row['per_worker']:>9.1f}{row['measured_lines']:>10}{row['not_answered']:>14}"
                  f"   tasks: {row['task_outcomes']}")
    print("\nper-message kefu overhead excluding the LLM (tasks inline, no broker, no quiet window):")
    for row in rows:
        if "overhead" in row:
            for kind, figures in row["overhead"].items():
                print(f"  {names[row['db']]:22}{kind:18} n={figures['n']:<4} p50 {figures['p50']:.1f} ms  "
                      f"p95 {figures['p95']:.1f} ms")
    for row in rows:
        if "detail" in row and row["errors"]:
            print(f"errors in {row['db']} {row['llm_ms']} ms × {row['workers']}: {row['detail']}")
    print(f"\nrerun: .venv/bin/python bench/pipeline.py --messages {args.messages} --rate-lines {args.rate_lines} "
          f"--overhead {args.overhead} "
          f"--db {' '.join(args.db)} --phases {' '.join(args.phases)}")


if __name__ == "__main__":
    main()
