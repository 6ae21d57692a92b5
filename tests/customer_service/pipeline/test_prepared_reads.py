"""Every prepared read of the pipeline is prepared for real: none falls back to the ORM for good."""

import functools
import logging

import pytest
from django.utils import timezone

from customer_service.alerts import services as alerts
from customer_service.outbox import services as outbox
from customer_service.pipeline import drafting, processing
from customer_service.pipeline import services as ingest

pytestmark = pytest.mark.django_db


def _reads():
    now = timezone.now()
    return [
        (ingest._EXTERNAL_ID_READ, {"shop_id": 1, "external_id": "m-1"}),
        (processing._UNANSWERED_READ, {"conversation_id": 1}),
        (processing._WAITING_READ, {"conversation_id": 1}),
        (processing._TASK_LINE_READ, {"message_id": 1}),
        (processing._NEWEST_WAITING_READ, {"message_id": 1}),
        (processing._CLAIMED_LINES_READ, {"owner": "0" * 32}),
        (outbox._LAST_TEXT_READ, {"conversation_id": 1}),
        (alerts._OPEN_EVENT_READ, {"kind": "providers_down", "shop_id": 1, "key": "chat"}),
        (processing.PreparedRead(functools.partial(drafting._earlier_lines, lines=6)),
         {"conversation_id": 1, "received_at": now, "message_id": 1}),
    ]


@pytest.mark.parametrize("number", range(len(_reads())))
def test_the_read_is_prepared(number, caplog):
    read, values = _reads()[number]
    with caplog.at_level(logging.WARNING, logger="kefu.prepared"):
        assert read(**values) == []
    assert not read._refused, caplog.text
    assert read._local.compiled, "nothing was compiled"
