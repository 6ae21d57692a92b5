"""A real worker keeps its database connection from one task to the next (PostgreSQL counts the sessions)."""

import time

import pytest
from django.db import connection

from customer_service.models import Message, MessageStatus
from customer_service.pipeline.services import message_ingest
from tests.configs.factories import shop_settings_template_ensure

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]

LINES = 12


@pytest.fixture
def celery_worker_env():
    return {"KEFU_TEST_CONN_MAX_AGE": "60"}


def _sessions() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_a_worker_answers_many_lines_on_one_connection(world, celery_worker_process):
    if connection.vendor != "postgresql":
        pytest.skip("runs with --db=postgres: PostgreSQL counts the sessions opened")
    shop_settings_template_ensure()
    time.sleep(1.5)  # the worker's start-up sessions are counted
    before = _sessions()
    for n in range(LINES):
        message_ingest(shop=world.shop, buyer_id=f"buyer-{n}", content="你们家的包装是什么颜色的",
                       external_id=f"connections-{n}")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and Message.objects.filter(status__in=[
            MessageStatus.NEW, MessageStatus.PROCESSING]).exists():
        time.sleep(0.2)
    assert not Message.objects.exclude(status=MessageStatus.REVIEW).exists()  # no LLM here: each went to a person
    time.sleep(1.5)  # sessions are counted when they end or at the next statistics flush
    opened = _sessions() - before
    # One session per task (two tasks per line: decide, then draft) would be 2 × LINES.
    assert opened <= 3, f"the worker opened {opened} database sessions for {LINES} lines"
