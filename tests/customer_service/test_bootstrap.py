"""manage.py bootstrap: a readable error for every setup mistake, never a traceback."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import User

PROJECT_DIR = Path(__file__).resolve().parents[2]


def bootstrap(**kwargs):
    out = StringIO()
    call_command("bootstrap", stdout=out, **kwargs)
    return out.getvalue()


@pytest.mark.django_db
def test_it_creates_the_superadmin_once(settings):
    settings.KEFU_ADMIN_USER, settings.KEFU_ADMIN_PASSWORD = "boss", "A-long-pass-phrase-9"
    assert "Superadmin created: boss" in bootstrap()
    assert "already exists" in bootstrap()
    assert User.objects.get(username="boss").is_superadmin


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["shop admin", "", "  "])
def test_a_bad_admin_username_is_a_readable_error(settings, username):
    settings.KEFU_ADMIN_USER = username
    with pytest.raises(CommandError, match="KEFU_ADMIN_USER"):
        bootstrap()
    assert not User.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("password", ["1", "password", "admin123"])
def test_a_weak_admin_password_is_refused(settings, password):
    settings.KEFU_ADMIN_USER, settings.KEFU_ADMIN_PASSWORD = "admin", password
    with pytest.raises(CommandError, match="KEFU_ADMIN_PASSWORD is too weak"):
        bootstrap()
    assert not User.objects.exists()


@pytest.mark.slow
def test_before_migrate_it_says_to_migrate_first(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "kefu.settings.test",
        "KEFU_TEST_RUNTIME_DIR": str(tmp_path),
        "KEFU_WORKER_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "bootstrap"], cwd=PROJECT_DIR, env=env, capture_output=True, text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "run `python manage.py migrate` first" in done.stderr
    assert "Traceback" not in done.stderr
