"""Two real Celery worker processes on a real Redis, racing over the same conversations: one reply per burst."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from configs import services as config_services
from customer_service.models import Message, MessageDirection, MessageStatus, OutgoingReply, ReviewItem
from customer_service.pipeline.services import message_ingest
from customer_service.pipeline.tasks import message_process_task
from knowledge import services as knowledge_services
from knowledge.index import forget
from knowledge.selectors import knowledge_search
from tests.configs.factories import shop_settings_template_ensure
from tests.conftest import PROJECT_DIR, _reset_celery_connections, process_environment

pytestmark = [pytest.mark.slow, pytest.mark.redis]

SHELF_LIFE = "蛋糕能保存几天？"


@pytest.fixture
def two_workers(redis_server, settings, transactional_db):
    """Two ``celery worker`` processes (queues default and llm) reading the test database."""
    from kefu.celery import app

    env = process_environment(settings, broker_url=redis_server.url, result_backend=redis_server.url)
    workers, logs, names = [], [], []
    saved = {k: app.conf[k] for k in ("broker_url", "result_backend", "task_always_eager")}
    try:
        for n in range(2):
            name = f"kefu-spine-{os.getpid()}-{n}@localhost"
            log_path = Path(settings.TEST_RUNTIME_DIR) / f"celery-worker-{n}.log"
            log = log_path.open("w")
            logs.append((log, log_path))
            names.append(name)
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "kefu", "worker", "-Q", "default,llm", "-P", "solo", "-n", name,
                 "--without-mingle", "--without-gossip", "-l", "warning"],
                cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
            ))
        app.conf.update(broker_url=redis_server.url, result_backend=redis_server.url, task_always_eager=False)
        _reset_celery_connections(app)
        settings.CELERY_BROKER_URL = redis_server.url
        deadline = time.monotonic() + 90
        waiting = set(names)
        while waiting and time.monotonic() < deadline:
            for worker, (_log, path) in zip(workers, logs, strict=True):
                if worker.poll() is not None:
                    pytest.fail(f"a celery worker exited: {path.read_text()}")
            for reply in app.control.ping(destination=sorted(waiting), timeout=0.5) or []:
                waiting -= set(reply)
        if waiting:
            pytest.fail(f"workers {waiting} did not answer ping within 90 s")
        yield app
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
        for log, _path in logs:
            log.close()
        app.conf.update(saved)
        _reset_celery_connections(app)


def test_two_worker_processes_racing_over_every_line_answer_each_burst_exactly_once(world, two_workers):
    forget()
    shop_settings_template_ensure()
    knowledge_services.knowledge_item_create(
        actor=world.superadmin, shop=world.shop, question=SHELF_LIFE, answer="冷藏条件下建议两天内吃完。",
        keywords=["保存", "冷藏"], similar_questions=["保质期多久"],
    )
    merged = "在吗，" + SHELF_LIFE
    c = knowledge_search(shop=world.shop, text=merged, k=1)[0].confidence
    config_services.shop_settings_update(shop=world.shop, actor=world.shop_admin, values={
        "auto_mode": True, "auto_send_threshold": c, "draft_threshold": min(c, 0.6),
        "business_hours": {"enabled": False},
        # A wide window: the lines of one buyer below arrive well within it even on a busy machine.
        "bursts": {"base_window_ms": 1500, "fragment_window_ms": 3000, "max_wait_ms": 6000},
    })

    buyers = 8
    for b in range(buyers):
        question = SHELF_LIFE if b % 2 == 0 else "我要退款"
        for i, text in enumerate(["在吗", question]):
            line, _ = message_ingest(shop=world.shop, buyer_id=f"买家{b}", content=text, external_id=f"{b}-{i}")
            # Every line also gets extra tasks, now and later: both workers go for every conversation.
            message_process_task.apply_async(args=(line.pk,))
            message_process_task.apply_async(args=(line.pk,), countdown=2)

    lines = Message.objects.filter(shop=world.shop, direction=MessageDirection.BUYER)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if not lines.filter(status__in=[MessageStatus.NEW, MessageStatus.PROCESSING]).exists():
            break
        time.sleep(0.5)
    unfinished = list(lines.filter(status__in=[MessageStatus.NEW, MessageStatus.PROCESSING]).values_list(
        "external_id", "status"))
    assert unfinished == []

    sent = list(OutgoingReply.objects.values_list("conversation__buyer_id", flat=True))
    reviewed = list(ReviewItem.objects.values_list("message__conversation__buyer_id", flat=True))
    assert sorted(sent) == sorted(f"买家{b}" for b in range(0, buyers, 2))  # one answer per burst, no second
    assert sorted(reviewed) == sorted(f"买家{b}" for b in range(1, buyers, 2))
    assert set(lines.values_list("status", flat=True)) <= {"answered", "review"}
    for b in range(buyers):
        first, last = lines.get(external_id=f"{b}-0"), lines.get(external_id=f"{b}-1")
        assert first.burst_head_id == last.pk and last.burst_head_id is None  # one burst of both lines
