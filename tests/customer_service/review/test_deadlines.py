import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from configs import services as config_services
from customer_service.models import AlertEvent, AlertKind, OutgoingReply, Reply, ReviewItem
from customer_service.review.decisions import review_deadlines_check, review_item_holding_send
from customer_service.review.services import review_settings_get
from customer_service.review.tasks import review_deadlines_check_task
from tests.configs.factories import shop_settings_template_ensure
from tests.customer_service.factories import OutgoingReplyFactory, ReviewItemFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(world):
    shop_settings_template_ensure()
    return world.shop


def due_item(shop, seconds_left=30, **kwargs):
    return ReviewItemFactory(message__conversation__shop=shop,
                             deadline_at=timezone.now() + timedelta(seconds=seconds_left), **kwargs)


def open_alert(shop, kind):
    return AlertEvent.objects.filter(shop=shop, kind=kind, resolved_at__isnull=True).first()


def test_an_item_near_its_deadline_gets_the_holding_reply_once_and_raises_an_alert(shop):
    item = due_item(shop, seconds_left=30)
    calm = due_item(shop, seconds_left=120)

    assert review_deadlines_check().holding_sent == 1
    assert review_deadlines_check().holding_sent == 0  # the next beat sends nothing again

    outgoing = OutgoingReply.objects.get()
    assert (outgoing.message, outgoing.text, outgoing.state) == (item.message, "亲，稍等，马上为您查询～", "queued")
    assert (outgoing.reply.source, outgoing.reply.rule) == ("template", "review.holding")
    item.refresh_from_db()
    item.message.refresh_from_db()
    assert item.status == "pending" and item.holding_sent_at is not None
    assert item.message.status == "review"  # the holding reply does not answer the question
    calm.refresh_from_db()
    assert calm.holding_sent_at is None
    event = open_alert(shop, AlertKind.REVIEW_DEADLINE)
    assert event.detail["review_item"] == item.pk and event.detail["holding_reply"] == "sent"


def test_the_shops_holding_reply_and_lead_time_are_used(world, shop):
    config_services.shop_settings_update(shop=shop, actor=world.shop_admin, values={
        "review": {"holding_before_seconds": 100, "holding_reply": "亲，正在为您核实，请稍候～"}})
    due_item(shop, seconds_left=90)
    review_deadlines_check()
    assert OutgoingReply.objects.get().text == "亲，正在为您核实，请稍候～"


def test_an_empty_holding_reply_sends_nothing_but_still_alerts(world, shop):
    config_services.shop_settings_update(shop=shop, actor=world.shop_admin, values={"review": {"holding_reply": ""}})
    due_item(shop, seconds_left=10)
    review_deadlines_check()
    assert not OutgoingReply.objects.exists()
    assert open_alert(shop, AlertKind.REVIEW_DEADLINE).detail["holding_reply"] == "none"


def test_a_holding_reply_the_pre_send_check_refuses_is_not_sent_and_leaves_the_item_as_it_was(world, shop):
    config_services.shop_settings_update(shop=shop, actor=world.shop_admin,
                                         values={"forbidden_phrases": ["稍等"]})
    item = due_item(shop, seconds_left=10)
    draft, reason = item.draft, item.reason
    review_deadlines_check()
    item.refresh_from_db()
    assert (item.draft, item.reason, item.status) == (draft, reason, "pending")
    assert not OutgoingReply.objects.exists() and not Reply.objects.filter(source="template").exists()
    assert open_alert(shop, AlertKind.REVIEW_DEADLINE).detail["held_by"] == "safety.shop.forbidden_phrase"


def test_a_buyer_just_told_to_wait_is_not_told_again(shop):
    item = due_item(shop, seconds_left=10)
    OutgoingReplyFactory(reply__message=item.message, text="亲，稍等，马上为您查询～")
    review_deadlines_check()
    assert OutgoingReply.objects.count() == 1
    assert open_alert(shop, AlertKind.REVIEW_DEADLINE).detail["held_by"] == "outbox.repeated_text"


def test_an_item_long_past_its_deadline_gets_no_holding_reply(shop):
    due_item(shop, seconds_left=-200)  # the deadline is 180 s: the buyer has waited over six minutes
    review_deadlines_check()
    assert not OutgoingReply.objects.exists()


def test_a_decided_item_gets_none(world, shop):
    item = due_item(shop, seconds_left=10, status="rejected")
    assert review_item_holding_send(item=item, settings=review_settings_get(shop=shop)) is None
    assert not OutgoingReply.objects.exists()


def test_the_deadline_alert_resolves_when_no_item_is_near_its_deadline(world, shop):
    item = due_item(shop, seconds_left=10)
    review_deadlines_check()
    assert open_alert(shop, AlertKind.REVIEW_DEADLINE)
    ReviewItem.objects.filter(pk=item.pk).update(status="approved")
    review_deadlines_check()
    assert open_alert(shop, AlertKind.REVIEW_DEADLINE) is None


def test_a_backlog_over_the_limit_raises_an_alert_resolved_when_it_drops(world, shop):
    config_services.shop_settings_update(shop=shop, actor=world.shop_admin, values={"review": {"backlog_alert": 2}})
    items = [due_item(shop, seconds_left=170) for _ in range(3)]
    due_item(world.other_shop, seconds_left=170)
    assert review_deadlines_check().backlog_shops == 1
    event = open_alert(shop, AlertKind.REVIEW_BACKLOG)
    assert event.detail == {"pending": 3, "limit": 2}
    assert open_alert(world.other_shop, AlertKind.REVIEW_BACKLOG) is None
    ReviewItem.objects.filter(pk=items[0].pk).update(status="rejected")
    review_deadlines_check()
    assert open_alert(shop, AlertKind.REVIEW_BACKLOG) is None


def test_the_beat_task_runs_the_check(shop):
    due_item(shop, seconds_left=5)
    assert review_deadlines_check_task.apply().get()["holding_sent"] == 1


@pytest.mark.django_db(transaction=True)
def test_two_beats_at_once_send_one_holding_reply(world):
    shop_settings_template_ensure()
    due_item(world.shop, seconds_left=10)
    barrier, sent = threading.Barrier(2), []

    def beat():
        try:
            barrier.wait()
            sent.append(review_deadlines_check().holding_sent)
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(sent) == [0, 1] and OutgoingReply.objects.count() == 1
