import csv
import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import translation

from billing import router
from billing.models import UsageRecord

pytestmark = pytest.mark.django_db
HI = [{"role": "user", "content": "在吗"}]


def _run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_usage_report_totals_equal_the_sum_of_records(llm_config, fake_llm, world):
    llm_config("gpt-a", is_default=True)
    llm_config("gpt-b", priority=10, per_1k_in="0.01")
    fake_llm.behave("gpt-a", ["500", "ok"])
    for user, shop in ((world.agent, world.shop), (world.agent, world.shop), (world.outsider, world.other_shop)):
        router.chat(HI, user=user, shop=shop)
    records = list(UsageRecord.objects.all())

    report = json.loads(_run("usage_report", "--format", "json", "--by", "shop"))

    assert report["totals"]["calls"] == len(records) == 4
    assert Decimal(report["totals"]["cost"]) == sum(r.cost for r in records)
    assert {row["label"] for row in report["rows"]} == {world.shop.name, world.other_shop.name}
    assert report["top_users"][0]["label"] == "agent"

    rows = list(csv.reader(io.StringIO(_run("usage_report", "--format", "csv", "--by", "model"))))
    assert rows[0][0] == "model" and rows[-1][0] == "TOTAL"
    assert Decimal(rows[-1][-1]) == sum(r.cost for r in records)
    assert sum(int(r[2]) for r in rows[1:-1]) == 4

    table = _run("usage_report", "--by", "day")
    assert "Total: 4 calls, 1 errors" in table and "Most active users" in table

    assert "Total: 0 calls" in _run("usage_report", "--from", "2020-01-01", "--to", "2020-01-31")
    with pytest.raises(CommandError):
        call_command("usage_report", "--from", "2020-02-01", "--to", "2020-01-01")


def test_test_provider_command_stores_result_and_exits_non_zero_on_failure(llm_config, fake_llm, capsys):
    config = llm_config("gpt-a")
    with translation.override("en"):
        assert "OK in" in _run("test_provider", str(config.pk))
    config.refresh_from_db()
    assert config.last_test_ok is True

    fake_llm.behave("gpt-a", "429")
    with pytest.raises(SystemExit) as exited:
        call_command("test_provider", config.name)
    assert exited.value.code == 1
    config.refresh_from_db()
    assert config.last_test_ok is False and "rate_limited" in config.last_test_message
    assert "sk-test-0123456789" not in capsys.readouterr().err
    with pytest.raises(CommandError):
        call_command("test_provider", "no such config")


def test_usage_report_refuses_a_bad_date_with_a_readable_message():
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run([sys.executable, "manage.py", "usage_report", "--from", "notadate"],
                            cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "'notadate' is not a date (YYYY-MM-DD)" in result.stderr
    assert "Traceback" not in result.stderr
