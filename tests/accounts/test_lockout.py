"""Lockout refuses the failing source, slows a username guessed from everywhere, and never shuts its
owner out: a correct password from an address that has not been failing gets in."""

import time

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.throttling import login_delay_seconds, login_failure_record
from tests.accounts.factories import PASSWORD


@pytest.fixture(autouse=True)
def _fresh_counters(settings):
    settings.KEFU_LOGIN_LOCK_AFTER = 3
    settings.KEFU_LOGIN_IP_LOCK_AFTER = 5
    settings.KEFU_LOGIN_SLOW_AFTER = 2
    settings.KEFU_LOGIN_LOCK_SECONDS = 600
    cache.clear()
    yield
    cache.clear()


def login(username, password=PASSWORD, ip="10.0.0.1"):
    return APIClient().post("/api/auth/login", {"username": username, "password": password}, format="json",
                            REMOTE_ADDR=ip)


@pytest.mark.django_db
def test_wrong_passwords_from_many_addresses_never_lock_the_owner_out(world):
    for n in range(20):
        assert login("root", "wrong", ip=f"10.1.0.{n}").status_code == 401
    assert login("root", ip="10.2.0.1").status_code == 200


@pytest.mark.django_db
def test_a_username_guessed_from_many_addresses_is_slowed(world, settings):
    settings.KEFU_LOGIN_DELAY_SECONDS = 0.5
    assert login_delay_seconds(ip="10.2.0.1", username="root") == 0
    for n in range(4):
        login_failure_record(ip=f"10.1.0.{n}", username="root")
    # Attempts from an address that never failed wait too (each from its own address, never locked).
    assert login_delay_seconds(ip="10.2.0.1", username="ROOT") == 1.5
    assert login_delay_seconds(ip="10.2.0.1", username="agent") == 0


@pytest.mark.django_db
def test_the_failing_source_is_refused_with_retry_after_and_others_get_in(world):
    for _ in range(3):
        assert login("agent", "wrong", ip="10.0.0.9").status_code == 401
    refused = login("agent", ip="10.0.0.9")  # the right password, from the failing address
    assert refused.status_code == 429
    assert refused["Retry-After"] == "600"
    assert refused.json()["error"] == "login_locked"
    assert refused.json()["detail"] == {"retry_after_seconds": 600}
    assert login("agent", ip="10.0.0.10").status_code == 200


@pytest.mark.django_db
def test_a_refused_source_is_let_in_again_once_the_lock_is_over(world, time_machine):
    time_machine.move_to(time.time(), tick=False)
    for _ in range(3):
        login("agent", "wrong", ip="10.0.0.9")
    time_machine.shift(400)
    assert login("agent", ip="10.0.0.9")["Retry-After"] == "200"
    time_machine.shift(201)
    assert login("agent", ip="10.0.0.9").status_code == 200


@pytest.mark.django_db
def test_an_address_failing_on_several_usernames_is_refused_for_every_username(world):
    for name in ("a", "b", "c", "d", "e"):
        login(name, "wrong", ip="10.0.0.7")
    assert login("shopadmin", ip="10.0.0.7").status_code == 429
    assert login("shopadmin", ip="10.0.0.8").status_code == 200


@pytest.mark.django_db
def test_a_success_clears_its_pairs_count(world):
    for _ in range(2):
        login("agent", "wrong", ip="10.0.0.9")
    assert login("agent", ip="10.0.0.9").status_code == 200
    for _ in range(2):
        assert login("agent", "wrong", ip="10.0.0.9").status_code == 401  # counting from zero again
    assert login("agent", ip="10.0.0.9").status_code == 200


@pytest.mark.django_db
def test_the_admin_sign_in_follows_the_same_rules(world, client):
    for n in range(6):
        client.post("/admin/login/", {"username": "root", "password": "wrong"}, REMOTE_ADDR=f"10.1.0.{n}")
    owner = client.post("/admin/login/", {"username": "root", "password": PASSWORD}, REMOTE_ADDR="10.2.0.1")
    assert owner.status_code == 302  # signed in, from an address that was not failing
    client.logout()
    for _ in range(3):
        client.post("/admin/login/", {"username": "agent", "password": "wrong"}, REMOTE_ADDR="10.0.0.9")
    refused = client.post("/admin/login/", {"username": "agent", "password": PASSWORD}, REMOTE_ADDR="10.0.0.9")
    assert refused.status_code == 429
    assert refused["Retry-After"] == "600"
    assert "_auth_user_id" not in client.session
