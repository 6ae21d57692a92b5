import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from customer_service.models import Shop, ShopMembership

PROJECT = Path(__file__).resolve().parents[2]


def run_command(*args, **kwargs):
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO(), **kwargs)
    return out.getvalue()


@pytest.mark.django_db
def test_bootstrap_prints_a_generated_password_once_and_is_idempotent(settings):
    settings.KEFU_ADMIN_USER, settings.KEFU_ADMIN_PASSWORD = "boss", ""
    first = run_command("bootstrap", "--demo")
    password = first.split("Superadmin created: boss / ")[1].split()[0]
    boss = User.objects.get(username="boss")
    assert boss.is_superadmin and boss.is_superuser and boss.check_password(password)
    assert len(password) >= 16
    second = run_command("bootstrap", "--demo")
    assert password not in second and "already exists" in second
    assert User.objects.filter(username="boss").count() == 1
    shop = Shop.objects.get()
    from knowledge.models import KnowledgeItem

    demo_items = KnowledgeItem.objects.filter(shop=shop).count()
    assert demo_items >= 20
    run_command("bootstrap", "--demo")
    assert KnowledgeItem.objects.filter(shop=shop).count() == demo_items
    assert sorted(ShopMembership.objects.filter(shop=shop).values_list("user__username", "role")) == [
        ("demo_admin", "admin"),
        ("demo_agent", "agent"),
    ]


@pytest.mark.django_db
def test_bootstrap_uses_the_configured_password(settings):
    settings.KEFU_ADMIN_USER, settings.KEFU_ADMIN_PASSWORD = "boss", "Configured-Pass-123"
    output = run_command("bootstrap")
    assert "Configured-Pass-123" not in output
    assert User.objects.get(username="boss").check_password("Configured-Pass-123")


def test_init_env_writes_keys_once(tmp_path):
    target = tmp_path / ".env"
    run_command("init_env", "--path", str(target))
    text = target.read_text()
    assert "DJANGO_SECRET_KEY=" in text and re.search(r"^KEFU_ENCRYPTION_KEYS=k[0-9a-f]{6}:", text, re.M)
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    run_command("init_env", "--path", str(target))
    assert target.read_text() == text


def test_init_env_never_turns_debug_on(tmp_path):
    target = tmp_path / ".env"
    run_command("init_env", "--path", str(target))
    assert "DJANGO_DEBUG" not in target.read_text()


def test_init_env_takes_out_the_debug_line_an_earlier_version_wrote_and_nothing_else(tmp_path):
    from kefu.management.commands.init_env import HEADER

    written = tmp_path / ".env"
    written.write_text(f"{HEADER}\nDJANGO_DEBUG=true\nDJANGO_SECRET_KEY=s\nKEFU_ENCRYPTION_KEYS=k1:x\n")
    run_command("init_env", "--path", str(written))
    assert written.read_text() == f"{HEADER}\nDJANGO_SECRET_KEY=s\nKEFU_ENCRYPTION_KEYS=k1:x\n"
    chosen = tmp_path / "chosen.env"
    chosen.write_text("DJANGO_SECRET_KEY=s\nDJANGO_DEBUG=true\n")  # a developer's own file: theirs to keep
    run_command("init_env", "--path", str(chosen))
    assert chosen.read_text() == "DJANGO_SECRET_KEY=s\nDJANGO_DEBUG=true\n"


def test_local_settings_run_without_debug_unless_asked(tmp_path):
    def debug(**env):
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KEFU_"))}
        clean.update(DJANGO_READ_DOT_ENV_FILE="false", DJANGO_SETTINGS_MODULE="kefu.settings.local", **env)
        code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
        return subprocess.run([sys.executable, "-c", code], cwd=PROJECT, env=clean, capture_output=True, text=True,
                              check=True).stdout.strip()

    assert debug() == "False"
    assert debug(DJANGO_DEBUG="true") == "True"


@pytest.mark.django_db
def test_diagnose_fails_readably_when_no_worker_runs():
    out = StringIO()
    with pytest.raises(CommandError, match="queue:default"):
        call_command("diagnose", stdout=out)
    report = out.getvalue()
    assert "[ OK ] database" in report
    assert "[FAIL] queue:default" in report
    assert "no worker consumes this queue" in report
    assert "[ OK ] knowledge calibration" in report


@pytest.mark.redis
@pytest.mark.slow
def test_diagnose_passes_with_a_worker(celery_worker_process, settings):
    settings.KEFU_HEALTH_QUEUES = ["default", "llm"]
    settings.DEBUG = True  # static files served by Django, nothing to collect
    report = run_command("diagnose")
    assert "Everything kefu needs is working." in report


PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "kefu.settings.production",
    "DJANGO_SECRET_KEY": "x" * 20 + "production-secret-key-with-enough-entropy-1234567890",
    "DJANGO_ALLOWED_HOSTS": "kefu.example.com",
    "DATABASE_URL": "postgres://kefu:pw@127.0.0.1:5432/kefu",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "KEFU_ENCRYPTION_KEYS": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    "DJANGO_READ_DOT_ENV_FILE": "false",
}


def _manage(*args, env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KEFU_", "DATABASE_URL", "REDIS"))}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT, env={**clean, **env},
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_check_deploy_passes_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_production_refuses_to_start_without_an_encryption_key():
    result = _manage("check", env={**PRODUCTION_ENV, "KEFU_ENCRYPTION_KEYS": ""})
    assert result.returncode != 0
    assert "KEFU_ENCRYPTION_KEYS" in result.stderr


@pytest.mark.parametrize(("settings_module", "database_url"), [
    ("kefu.settings.production", PRODUCTION_ENV["DATABASE_URL"]),
    ("kefu.settings.local", PRODUCTION_ENV["DATABASE_URL"]),
    ("kefu.settings.local", "sqlite:////tmp/kefu-settings-check.sqlite3"),
])
def test_database_connections_are_kept_across_requests_and_tasks(settings_module, database_url):
    # A worker that opened a connection per task spent more on it than on deciding a buyer's line.
    result = _manage("shell", "-c", "from django.conf import settings; d = settings.DATABASES['default']; "
                     "print(d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'])",
                     env={**PRODUCTION_ENV, "DJANGO_SETTINGS_MODULE": settings_module, "DATABASE_URL": database_url})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == ["60", "True"]
