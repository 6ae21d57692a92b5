"""One username per person, whatever its letter case."""

import pytest
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db import IntegrityError, connection
from django.db.migrations.executor import MigrationExecutor
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import user_create
from tests.accounts.factories import PASSWORD


@pytest.mark.django_db
def test_a_username_differing_only_in_case_cannot_exist(world):
    api = APIClient()
    api.force_authenticate(world.superadmin)
    created = api.post("/api/users/", {"username": "Agent", "password": "A-long-pass-phrase-9"}, format="json")
    assert created.status_code == 400
    assert created.json()["detail"] == {"username": ["A user with that username already exists."]}
    with pytest.raises(IntegrityError):
        User.objects.create(username="AGENT")


@pytest.mark.django_db
def test_failures_under_any_letter_case_count_against_the_one_account(world, settings):
    from django.core.cache import cache

    from accounts.throttling import _keys, login_delay_seconds

    settings.KEFU_LOGIN_LOCK_AFTER = 3
    settings.KEFU_LOGIN_SLOW_AFTER = 3
    client = APIClient()
    for name in ("agent", "Agent", "AGENT"):
        response = client.post(
            "/api/auth/login", {"username": name, "password": "wrong"}, format="json", REMOTE_ADDR="10.0.0.1"
        )
        assert response.status_code == 401
    assert cache.get(_keys("10.0.0.1", "aGeNt").pair) == 3
    settings.KEFU_LOGIN_DELAY_SECONDS = 1.0
    assert login_delay_seconds(ip="10.0.0.4", username="agent") > 0  # slowed from any address
    locked = client.post(
        "/api/auth/login", {"username": "agent", "password": PASSWORD}, format="json", REMOTE_ADDR="10.0.0.1"
    )
    assert locked.status_code == 429


@pytest.mark.django_db
def test_a_username_taken_in_another_letter_case_is_a_username_error(world):
    with pytest.raises(ValidationError) as refused:
        user_create(username="ShopAdmin", password="A-long-pass-phrase-9")
    assert refused.value.message_dict == {"username": ["A user with that username already exists."]}


BEFORE = ("accounts", "0001_initial")
CONSTRAINT = ("accounts", "0003_user_username_unique_ignoring_case")


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets or executor.loader.graph.leaf_nodes())
    return executor


@pytest.mark.django_db(transaction=True)
def test_the_migration_names_usernames_that_differ_only_in_case_instead_of_failing_bare():
    executor = migrate([BEFORE])
    historical_user = executor.loader.project_state([BEFORE]).apps.get_model("accounts", "User")
    try:
        first = historical_user.objects.create(username="Agent")
        second = historical_user.objects.create(username="agent")
        with pytest.raises(CommandError) as refused:
            migrate([CONSTRAINT])
        assert f"'Agent' (id {first.pk}), 'agent' (id {second.pk})" in str(refused.value)
        assert "Rename or delete" in str(refused.value)

        historical_user.objects.filter(pk=first.pk).delete()
        migrate([CONSTRAINT])  # once the clash is gone
    finally:
        historical_user.objects.filter(username__in=["Agent", "agent"]).delete()
        migrate(None)
