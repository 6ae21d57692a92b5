"""Signing in and being signed in write as little as they can, and never while waiting.

On SQLite a write transaction holds the database's one write lock from its BEGIN
(kefu opens them IMMEDIATE); every other writer waits for it.
"""

import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.throttling import login_failure_record
from customer_service.models import Shop
from tests.accounts.signins import admin_login, api_login, bearer

DELAY = 3.0


class HeldDelay:
    """Stands in for the sign-in delay's clock: the attempt's wait lasts until the test lets it go.

    The test knows the attempt is waiting (no guess at how long a thread takes to get there), and
    a write that needed the attempt's lock would wait for the busy timeout and fail, not be timed.
    """

    def __init__(self):
        self.waiting, self.released, self.asked = threading.Event(), threading.Event(), []

    def sleep(self, seconds):
        self.asked.append(seconds)
        self.waiting.set()
        assert self.released.wait(30), "the test never let the attempt go on"


@pytest.mark.django_db(transaction=True)
def test_a_failed_sign_in_does_not_hold_the_database_while_it_waits(world, settings, monkeypatch):
    if connection.vendor != "sqlite":
        pytest.skip("the database-wide write lock is SQLite's")
    settings.KEFU_LOGIN_DELAY_SECONDS = DELAY
    for _ in range(settings.KEFU_LOGIN_SLOW_AFTER):  # the next failure waits DELAY seconds
        login_failure_record(ip="10.0.0.9", username="agent")
    delay = HeldDelay()
    monkeypatch.setattr("accounts.throttling.time.sleep", delay.sleep)
    attempt = {}

    def fail_to_sign_in():
        try:
            response = APIClient().post(
                "/api/auth/login", {"username": "agent", "password": "wrong"}, format="json", REMOTE_ADDR="10.0.0.9"
            )
            attempt.update(status=response.status_code)
        finally:
            connection.close()

    thread = threading.Thread(target=fail_to_sign_in)
    thread.start()
    try:
        assert delay.waiting.wait(30)  # the attempt is now waiting out its delay
        Shop.objects.create(name="同时写入的店")  # a held write lock would make this wait, then fail
        written_while_waiting = not delay.released.is_set()
    finally:
        delay.released.set()
        thread.join()

    assert delay.asked == [DELAY]  # the attempt did wait, as long as the setting says…
    assert written_while_waiting and Shop.objects.filter(name="同时写入的店").exists()  # …while another wrote
    assert attempt["status"] == 401


def statements(context, verb):
    return [q["sql"] for q in context.captured_queries if q["sql"].lstrip().upper().startswith(verb)]


@pytest.mark.django_db
def test_a_bearer_request_writes_nothing_while_the_last_activity_is_recent(world):
    client = bearer(api_login("agent"))
    with CaptureQueriesContext(connection) as context:
        assert client.get("/api/auth/me").status_code == 200
    assert statements(context, "UPDATE") == []


@pytest.mark.django_db
def test_a_browser_request_writes_nothing_while_the_last_activity_is_recent(world, client):
    admin_login(client, "agent")
    with CaptureQueriesContext(connection) as context:
        assert client.get("/api/auth/me").status_code == 200
    assert statements(context, "UPDATE") == []
