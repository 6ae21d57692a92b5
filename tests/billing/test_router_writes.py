"""A paid call is counted whatever fails after it; text a database or provider cannot take is refused first."""

import contextlib
import logging
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from billing import router
from billing.exceptions import BillingError
from billing.models import RequestLog, SpendCounter, UsageRecord
from billing.services import budget_set

HI = [{"role": "user", "content": "x" * 10}]  # 18 input tokens reserved
COST = Decimal("0.038")  # (18 + 20) tokens × 1 CNY / 1K


@contextlib.contextmanager
def refused_inserts(table: str):
    """A real database trigger that refuses every INSERT into ``table`` while the block runs."""
    name = f"refuse_{table}"
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"CREATE TRIGGER {name} BEFORE INSERT ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, 'refused by test'); END")
        elif connection.vendor == "postgresql":
            cursor.execute(f"CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN "
                           f"RAISE EXCEPTION 'refused by test'; END $$ LANGUAGE plpgsql")
            cursor.execute(f"CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()")
        else:
            pytest.skip(f"no trigger recipe for {connection.vendor}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
                cursor.execute(f"DROP FUNCTION IF EXISTS {name}()")


def _counters():
    return {c.scope: (c.reserved, c.spent) for c in SpendCounter.objects.exclude(scope="user_day")}


@pytest.fixture
def paid_config(llm_config, fake_llm, world):
    config = llm_config("gpt-a", per_1k_in="1", per_1k_out="1", max_tokens=20, log_requests=True)
    fake_llm.behave("gpt-a", "ok", prompt_tokens=18, completion_tokens=20)
    budget_set(actor=world.superadmin, shop=world.shop, monthly_limit=Decimal("1"))
    budget_set(actor=world.superadmin, config=config, monthly_limit=Decimal("1"))
    return config


@pytest.mark.django_db
def test_a_request_log_that_cannot_be_written_does_not_fail_the_paid_call(paid_config, world, caplog):
    # inside a caller's transaction, which must stay usable after the refused INSERT
    with (refused_inserts(RequestLog._meta.db_table), caplog.at_level(logging.ERROR, logger="billing.router"),
          transaction.atomic()):
        result = router.chat(HI, user=world.agent, shop=world.shop)
        assert UsageRecord.objects.count() == 1

    assert result.text and result.usage.cost == COST
    assert not RequestLog.objects.exists()
    assert "request log of usage record" in caplog.text
    assert _counters() == {"shop_month": (0, COST), "config_month": (0, COST)}


@pytest.mark.django_db(transaction=True)
def test_a_paid_call_whose_usage_record_cannot_be_written_still_settles_every_hold(paid_config, world):
    with refused_inserts(UsageRecord._meta.db_table), pytest.raises(DatabaseError):
        router.chat(HI, user=world.agent, shop=world.shop)

    # nothing stays reserved, and what the provider charged is counted
    assert _counters() == {"shop_month": (0, COST), "config_month": (0, COST)}


@pytest.mark.django_db
def test_an_empty_answer_is_logged_not_an_error(llm_config, fake_llm, world):
    llm_config("gpt-a", log_requests=True)
    fake_llm.behave("gpt-a", "ok", text="")

    result = router.chat(HI, user=world.agent)

    assert result.text == "" and RequestLog.objects.get(usage=result.usage).response == ""


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["a\x00b", "bell\x07", "esc\x1b[0m", "vt\x0b"])
def test_control_characters_are_refused_with_a_coded_error_before_any_call(llm_config, fake_llm, world, bad):
    llm_config("gpt-a")
    llm_config("emb-a", capability="embedding")

    with pytest.raises(BillingError) as caught:
        router.chat([{"role": "system", "content": "ok"}, {"role": "user", "content": bad}], user=world.agent)
    assert caught.value.code == "invalid_messages" and caught.value.detail["index"] == 1
    with pytest.raises(BillingError) as caught:
        router.embed(["fine", bad], user=world.agent)
    assert caught.value.code == "invalid_texts" and caught.value.detail["index"] == 1
    assert not fake_llm.requests and not UsageRecord.objects.exists()


@pytest.mark.django_db
def test_tab_line_feed_and_carriage_return_are_fine(llm_config, fake_llm, world):
    llm_config("gpt-a")
    assert router.chat([{"role": "user", "content": "a\tb\r\nc\n"}], user=world.agent).text
