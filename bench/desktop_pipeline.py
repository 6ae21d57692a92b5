"""The desktop side as it runs for a seller: Celery beat polls the fake Qianniu window through the broker every
second, the desktop worker reads it, the pipeline answers from the knowledge base, the desktop worker types the
reply and reads it back. Everything is a real process: Xvfb, the fake window, Redis, beat (django-celery-beat's
database scheduler, the entry made by ``desktop_schedules_sync``), a desktop worker (``-Q desktop -P solo``) and
a pipeline worker (``-Q default,llm -P solo``), on a SQLite file.

Measures, and prints with the command to rerun them:

* what one poll costs through the broker: an idle ``desktop.poll`` sent and its result back, against the same
  poll run in-process;
* CPU share of the desktop worker, beat and Redis while idle, polling every second;
* a new buyer's line on screen (a badge on the list) → the knowledge answer confirmed by read-back (reply
  delay 0), split into
  line on screen → ingested, ingested → reply queued (the pipeline, including its burst window), queued →
  confirmed (``desktop.send_reply``, handed over when the reply is queued: focus, paste, Enter, read-back).

Run: .venv/bin/python bench/desktop_pipeline.py [--rounds 12] [--idle-seconds 20] [--pings 40]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

QUESTIONS = ["发什么快递？", "用哪家快递", "发的什么快递", "快递用哪家呀", "你们发什么快递", "默认什么快递"]
ANSWER = "亲，默认发中通快递，江浙沪次日达哦～"


def ms(values):
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    return f"p50 {statistics.median(values) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms   (n={len(values)})"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--idle-seconds", type=float, default=20)
    parser.add_argument("--pings", type=int, default=40)
    args = parser.parse_args()

    from tests.e2e.desktop_harness import FakeWindow, Xvfb
    from tests.plugins.servers import RedisServer

    work = Path(tempfile.mkdtemp(prefix="kefu-bench-desktop-"))
    redis = RedisServer().start()
    xvfb = Xvfb()
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "kefu.settings.local", "DJANGO_READ_DOT_ENV_FILE": "false",
        "KEFU_VAR_DIR": str(work), "DATABASE_URL": f"sqlite:///{work / 'kefu.sqlite3'}",
        "REDIS_URL": redis.url, "CELERY_BROKER_URL": redis.url, "CELERY_RESULT_BACKEND": redis.url,
        "KEFU_ENCRYPTION_KEYS": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "DISPLAY": xvfb.display,
        "KEFU_DESKTOP_LOCK_PATH": str(work / "send.lock"),
    }
    os.environ.update(env)
    processes: list[subprocess.Popen] = []
    window = None
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=PROJECT, env=env, check=True)
        window = FakeWindow(xvfb.display)

        import django

        django.setup()
        from django.utils import timezone

        from accounts.models import User
        from configs import services as config_services
        from customer_service.desktop.services import desktop_poll, desktop_schedules_sync
        from customer_service.desktop.tasks import desktop_poll_task
        from customer_service.models import Message, MessageDirection, OutgoingReply, OutgoingState, Shop
        from knowledge import services as knowledge_services
        from knowledge.selectors import knowledge_search

        admin = User.objects.create(username="bench", is_superadmin=True, is_staff=True)
        shop = Shop.objects.create(name="测速店", qianniu_title=window.title)
        knowledge_services.knowledge_item_create(actor=admin, shop=shop, question=QUESTIONS[0], answer=ANSWER,
                                                 keywords=["快递", "中通"], similar_questions=QUESTIONS[1:3])
        confidence = min(knowledge_search(shop=shop, text=q, k=1)[0].confidence for q in QUESTIONS)
        regions = {name: dict(zip("xywh", getattr(window.regions, name).as_list(), strict=True))
                   for name in ("conversation_list", "chat_header", "transcript", "input_box", "send_button")}
        config_services.shop_settings_update(shop=shop, actor=admin, values={
            "auto_mode": True, "auto_send_threshold": confidence, "draft_threshold": min(confidence, 0.6),
            "reply_delay_seconds": 0,
            "desktop": {"enabled": True, "regions": regions, "window_width": window.size[0],
                        "window_height": window.size[1], "poll_interval_seconds": 1},
        })
        desktop_schedules_sync()
        # A conversation already answered once, as a seller's window has.
        window.buyer("买家测速", "在吗")
        window.seller("买家测速", "在的亲，请问有什么可以帮您")

        print(f"kefu desktop through the pipeline — {os.cpu_count()} cores, load average "
              f"{os.getloadavg()[0]:.1f} at start; Redis broker, SQLite, beat every 1 s")

        def start(*arguments, name):
            log = (work / f"{name}.log").open("w")
            process = subprocess.Popen([sys.executable, "-m", "celery", "-A", "kefu", *arguments], cwd=PROJECT,
                                       env=env, stdout=log, stderr=subprocess.STDOUT)
            processes.append(process)
            return process

        desktop_worker = start("worker", "-Q", "desktop", "-P", "solo", "-n", "desktop@bench", "--without-mingle",
                               "--without-gossip", "-l", "warning", name="desktop-worker")
        start("worker", "-Q", "default,llm", "-P", "solo", "-n", "pipeline@bench", "--without-mingle",
              "--without-gossip", "-l", "warning", name="pipeline-worker")

        # 1. One idle poll through the broker, without beat: send, wait for the result.
        first = desktop_poll_task.apply_async(args=(shop.pk,), ignore_result=False)
        first.get(timeout=120)  # the worker's first poll loads the OCR models
        trips = []
        for _ in range(args.pings):
            sent = time.perf_counter()
            desktop_poll_task.apply_async(args=(shop.pk,), expires=5, ignore_result=False).get(timeout=30)
            trips.append(time.perf_counter() - sent)
        from customer_service.desktop.runtime import DesktopRuntime

        local = DesktopRuntime()
        desktop_poll(shop_id=shop.pk, runtime=local)
        inproc, statuses = [], {}
        for _ in range(args.pings):
            sent = time.perf_counter()
            status = desktop_poll(shop_id=shop.pk, runtime=local)["status"]
            inproc.append(time.perf_counter() - sent)
            statuses[status] = statuses.get(status, 0) + 1
        local.close()
        print("\none idle poll (nothing new on the window):")
        print(f"  in-process desktop_poll:                       {ms(inproc)}  {statuses}")
        print(f"  desktop.poll task sent → result back (Redis):  {ms(trips)}")

        # 2. Beat drives the polls; idle CPU of the desktop worker, beat and Redis.

        beat = start("beat", "-S", "django_celery_beat.schedulers:DatabaseScheduler", "-l", "warning",
                     "--pidfile", str(work / "beat.pid"), "-s", str(work / "beat-schedule"), name="beat")
        time.sleep(4)
        pids = {"desktop worker": desktop_worker.pid, "beat": beat.pid, "redis": redis.process.pid}
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        wall = time.monotonic()
        time.sleep(args.idle_seconds)
        elapsed = time.monotonic() - wall
        print(f"\nidle, beat polling every 1 s, over {elapsed:.0f} s (share of one core):")
        for name, pid in pids.items():
            print(f"  {name:15} {(cpu_seconds(pid) - before[name]) / elapsed * 100:5.2f} %")

        # 3. New line on screen → knowledge answer confirmed.
        totals, ingested, queued, sent = [], [], [], []
        for i in range(args.rounds):
            time.sleep(0.37 * (i % 3) + 0.8)  # the line appears at varied points of the polling cycle
            before_ids = set(Message.objects.values_list("pk", flat=True))
            question = QUESTIONS[i % len(QUESTIONS)]
            # A new buyer each round (a badge on the list: the poll opens the conversation), since the same
            # answer twice in a row to one buyer is held for review.
            window.buyer(f"买家{i + 1:02d}号", question)
            shown = timezone.now()
            deadline = time.monotonic() + 30
            outgoing = None
            while time.monotonic() < deadline:
                outgoing = (OutgoingReply.objects.filter(state__in=[OutgoingState.CONFIRMED, OutgoingState.UNKNOWN])
                            .exclude(message_id__in=before_ids).select_related("message").first())
                if outgoing is not None:
                    break
                time.sleep(0.02)
            if outgoing is None or outgoing.state != OutgoingState.CONFIRMED:
                print(f"  round {i}: {'no reply' if outgoing is None else outgoing.state}")
                continue
            message = Message.objects.filter(direction=MessageDirection.BUYER).exclude(pk__in=before_ids) \
                .order_by("received_at").first()
            totals.append((outgoing.finished_at - shown).total_seconds())
            ingested.append((message.received_at - shown).total_seconds())
            queued.append((outgoing.created_at - message.received_at).total_seconds())
            sent.append((outgoing.finished_at - outgoing.created_at).total_seconds())
        print("\nnew buyer line on screen → knowledge answer confirmed by read-back (reply delay 0):")
        if totals:
            print(f"  on screen → ingested (poll wait + check + OCR + align):  {ms(ingested)}")
            print(f"  ingested → reply queued (pipeline, burst window):        {ms(queued)}")
            print(f"  queued → confirmed (send_reply: paste, Enter, read-back): {ms(sent)}")
            print(f"  on screen → confirmed:                                    {ms(totals)}")
        print(f"\nload average at end {os.getloadavg()[0]:.1f}")
        print("command: .venv/bin/python bench/desktop_pipeline.py " + " ".join(sys.argv[1:]))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        if window is not None:
            window.stop()
        xvfb.stop()
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
