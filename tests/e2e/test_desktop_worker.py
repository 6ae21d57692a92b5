"""kefu's real desktop worker (``celery worker -Q desktop -P solo``) on a real Redis, beside a real pipeline
worker, answering the fake Qianniu window under Xvfb; then killed (-9) and started again: nothing is ingested
or typed twice."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from customer_service.desktop.tasks import desktop_poll_task
from customer_service.models import Message, OutgoingReply, OutgoingState
from tests.e2e.desktop_harness import ANSWER, QUESTION

pytestmark = [pytest.mark.slow]

PROJECT = Path(__file__).resolve().parents[2]


def start_desktop_worker(settings, redis_server, xvfb, log_path: Path) -> subprocess.Popen:
    from tests.conftest import process_environment

    env = process_environment(settings, broker_url=redis_server.url, result_backend=redis_server.url,
                              DISPLAY=xvfb.display, KEFU_DESKTOP_LOCK_PATH=settings.KEFU_DESKTOP_LOCK_PATH)
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "kefu", "worker", "-Q", "desktop", "-P", "solo",
         "-n", f"kefu-desktop-{os.getpid()}@localhost", "--without-mingle", "--without-gossip", "-l", "warning"],
        cwd=PROJECT, env=env, stdout=log_path.open("a"), stderr=subprocess.STDOUT,
    )


def poll(shop, timeout=90):
    # Polls keep no result (one a second per shop); this one is asked for, to wait for it.
    return desktop_poll_task.apply_async(args=(shop.pk,), ignore_result=False).get(timeout=timeout)


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_the_desktop_worker_answers_once_and_after_a_kill_takes_nothing_twice(
        xvfb, qianniu, desktop_shop, redis_server, celery_worker_process, settings, tmp_path):
    shop = desktop_shop
    log = tmp_path / "desktop-worker.log"
    worker = start_desktop_worker(settings, redis_server, xvfb, log)
    try:
        qianniu.buyer("买家小明", QUESTION)
        first = poll(shop)  # the worker's first task also loads the OCR models

        # The pipeline worker answers from the knowledge base and hands the reply to the desktop worker.
        assert wait_for(lambda: OutgoingReply.objects.filter(shop=shop, state=OutgoingState.CONFIRMED).exists()), \
            (first, list(OutgoingReply.objects.values_list("state", "receipt_reason")), log.read_text()[-2000:])
        assert [r["text"] for r in qianniu.state()["received"]] == [ANSWER]

        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        worker = start_desktop_worker(settings, redis_server, xvfb, log)
        after = [poll(shop) for _ in range(2)]

        assert all(result["sent"] == [] for result in after), after
        assert Message.objects.filter(shop=shop).count() == 1
        assert [r["text"] for r in qianniu.state()["received"]] == [ANSWER]
        assert OutgoingReply.objects.filter(shop=shop).count() == 1
    finally:
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
