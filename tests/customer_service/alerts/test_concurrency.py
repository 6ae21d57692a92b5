"""Many processes raising the same problem at once still make one open event (PostgreSQL, real connections)."""

import threading

import pytest
from django.db import connection

from customer_service.alerts.services import alert_raise
from customer_service.models import AlertEvent, AlertKind
from tests.customer_service.factories import ShopFactory


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_raises_make_one_event_that_counts_them_all():
    if connection.vendor != "postgresql":
        pytest.skip("runs with --db=postgres: SQLite serialises writers, there is no race to lose")
    shop = ShopFactory()
    threads, results, start = 8, [], threading.Barrier(8)

    def raise_one():
        from django.db import connections

        try:
            start.wait()
            event = alert_raise(kind=AlertKind.PROVIDERS_DOWN, shop=shop, key="chat", title="全部模型调用失败")
            results.append(event.pk if event else None)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=raise_one) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    event = AlertEvent.objects.get()
    assert results == [event.pk] * threads
    assert event.count == threads
