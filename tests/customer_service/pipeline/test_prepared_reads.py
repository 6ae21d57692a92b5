"""Every prepared read and update of the pipeline is prepared for real: none falls back to the ORM for good."""

import dataclasses
import functools
import logging
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from configs import services as config_services
from customer_service.alerts import services as alerts
from customer_service.models import MESSAGE_STATES, Message, ReviewItem
from customer_service.outbox import services as outbox
from customer_service.pipeline import drafting, processing
from customer_service.pipeline import services as ingest
from customer_service.review import services as review
from knowledge.selectors import knowledge_search
from tests.configs.factories import shop_settings_template_ensure

from .conftest import SHELF_LIFE

pytestmark = pytest.mark.django_db


def _reads():
    now = timezone.now()
    return [
        (ingest._EXTERNAL_ID_READ, {"shop_id": 1, "external_id": "m-1"}),
        (processing._UNANSWERED_READ, {"conversation_id": 1}),
        (processing._WAITING_READ, {"conversation_id": 1}),
        (processing._TASK_LINE_READ, {"message_id": 1}),
        (processing._NEWEST_WAITING_READ, {"message_id": 1}),
        (processing._CLAIMED_BURST_READ, {"owner": "0" * 32}),
        (outbox._LAST_TEXT_READ, {"conversation_id": 1}),
        (alerts._OPEN_EVENT_READ, {"kind": "providers_down", "shop_id": 1, "key": "chat"}),
        (processing.PreparedRead(functools.partial(drafting._earlier_lines, lines=6)),
         {"conversation_id": 1, "received_at": now, "message_id": 1}),
        (review._BURST_REVIEW_READ, {"message_id": 1}),
    ]


@pytest.mark.parametrize("number", range(len(_reads())))
def test_the_read_is_prepared(number, caplog):
    read, values = _reads()[number]
    with caplog.at_level(logging.WARNING, logger="kefu.prepared"):
        assert read(**values) == list(read.build(**values))
    assert not read._refused, caplog.text
    assert read._local.compiled, "nothing was compiled"


@pytest.mark.usefixtures("fresh_indexes")
def test_a_line_answered_and_a_line_sent_to_review_change_their_rows_with_prepared_updates(
        world, faq, clock, caplog, monkeypatch):
    shop_settings_template_ensure()
    confidence = knowledge_search(shop=world.shop, text=SHELF_LIFE, k=1)[0].confidence
    config_services.shop_settings_update(shop=world.shop, actor=world.shop_admin,
                                         values={"auto_mode": True, "auto_send_threshold": confidence})
    # the claim; the answer (from processing or review); the move to review (from processing)
    updates = (processing._CLAIM_NEW_LINE, MESSAGE_STATES._update(Message, 2), MESSAGE_STATES._update(Message, 1))
    for update in updates:
        monkeypatch.setattr(update, "_local", threading.local())
        monkeypatch.setattr(update, "_refused", set())
    lines = []
    with caplog.at_level(logging.WARNING, logger="kefu.prepared"):
        for number, (buyer, text) in enumerate([("甲", SHELF_LIFE), ("乙", SHELF_LIFE), ("丙", "我要退款")]):
            line, _ = ingest.message_ingest(shop=world.shop, buyer_id=buyer, content=text, external_id=f"p-{number}")
            # a line on its own (as a task run eagerly takes it; a worker's batch hands it the lines it does not
            # answer itself)
            processing.message_process(message_id=line.pk, force=True)
            lines.append(line)
    assert [Message.objects.get(pk=line.pk).status for line in lines] == ["answered", "answered", "review"]
    assert ReviewItem.objects.get().message_id == lines[2].pk
    assert "through the ORM" not in caplog.text, caplog.text
    for update in updates:
        assert not update._refused and getattr(update._local, 'compiled', None), update.name


def test_a_one_line_claim_is_held_by_a_prepared_update(monkeypatch, caplog):
    from tests.customer_service.factories import MessageFactory

    monkeypatch.setattr(processing._HOLD_ONE_LINE, "_local", threading.local())
    monkeypatch.setattr(processing._HOLD_ONE_LINE, "_refused", set())
    now = timezone.now()
    lines = [MessageFactory(status="processing", lease_owner=f"{n}" * 32, lease_until=now) for n in range(2)]
    claims = [processing.Claim(owner=line.lease_owner, line_ids=(line.pk,), full=False, seen_id=line.pk,
                               texts=(line.content,), conversation_id=line.conversation_id, head_at=line.received_at)
              for line in lines]
    later = now + timedelta(minutes=1)
    with caplog.at_level(logging.WARNING, logger="kefu.prepared"):
        assert [processing._hold(claim, until=later) for claim in claims] == [True, True]
        lost = dataclasses.replace(claims[0], owner="x" * 32)  # another worker holds it
        assert processing._hold(lost, until=later) is False
    assert list(Message.objects.order_by("pk").values_list("lease_until", flat=True)) == [later, later]
    assert "through the ORM" not in caplog.text and processing._HOLD_ONE_LINE._local.compiled
