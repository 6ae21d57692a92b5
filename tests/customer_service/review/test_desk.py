from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from customer_service.models import MessageStatus
from customer_service.review.selectors import operator_desk
from tests.customer_service.factories import (
    MessageFactory,
    OutgoingReplyFactory,
    ReviewItemFactory,
    ShopFactory,
    ShopMembershipFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def midday():
    """"Today" is the shop's day (Asia/Shanghai): a line from 200 s ago was yesterday's just after midnight."""
    with time_machine.travel(datetime(2025, 3, 12, 14, 0, tzinfo=ZoneInfo("Asia/Shanghai")), tick=False):
        yield


@pytest.fixture
def busy(world):
    now = timezone.now()
    waiting = ReviewItemFactory(message__conversation__shop=world.shop,
                                message__received_at=now - timedelta(seconds=200),
                                deadline_at=now - timedelta(seconds=20))
    ReviewItemFactory(message__conversation__shop=world.shop, deadline_at=now + timedelta(seconds=100))
    ReviewItemFactory(message__conversation__shop=world.shop, status="approved", message__status="answered",
                      message__handled_by=world.agent)
    MessageFactory(conversation__shop=world.shop, status=MessageStatus.ANSWERED)  # kefu alone
    MessageFactory(conversation__shop=world.shop, status=MessageStatus.ANSWERED, handled_by=world.agent)
    MessageFactory(conversation__shop=world.shop, direction="seller")  # not a buyer's line
    MessageFactory(conversation__shop=world.shop, received_at=now - timedelta(days=2))  # not today
    OutgoingReplyFactory(reply__message__conversation__shop=world.shop, state="unknown")
    ReviewItemFactory(message__conversation__shop=world.other_shop)
    return waiting


def test_the_desk_counts_each_shops_backlog_and_today(world, busy):
    [row] = operator_desk(user=world.agent)
    assert row.shop == world.shop
    assert (row.pending, row.overdue) == (2, 1)
    assert 199 <= row.oldest_waiting_seconds <= 230
    # today's buyer lines: 3 review items' messages, 2 answered, the unknown send's message
    assert (row.messages_today, row.auto_answered_today, row.in_review_today) == (6, 1, 2)
    assert row.unknown_sends_today == 1
    assert [r.shop.name for r in operator_desk(user=world.superadmin)] == ["数码专营店", "甜品旗舰店"]


def test_the_admin_index_is_the_desk_with_links_into_the_queue(world, client, busy):
    client.force_login(world.agent)
    body = client.get("/admin/").content.decode()
    assert 'id="operator-desk"' in body and "甜品旗舰店" in body and "数码专营店" not in body
    assert f"/admin/customer_service/reviewitem/?shop__id__exact={world.shop.pk}" in body


def test_the_desk_costs_the_same_few_queries_for_many_shops(world, django_assert_max_num_queries):
    for _ in range(8):
        shop = ShopFactory()
        ShopMembershipFactory(shop=shop, user=world.agent)
        ReviewItemFactory(message__conversation__shop=shop)
    with django_assert_max_num_queries(5):
        rows = operator_desk(user=world.agent)
    assert len(rows) == 9 and all(row.pending == 1 for row in rows[:-1] if row.shop != world.shop)
