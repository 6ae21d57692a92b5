"""`make run` in a copy of the project: gunicorn serves the admin and its static files without debug pages,
the worker answers, beat runs."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _project_copy(target: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=PROJECT, capture_output=True,
                            text=True, check=True).stdout.split("\n")
    for name in filter(None, listed):
        source = PROJECT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


@pytest.mark.slow
def test_make_run_serves_the_admin_through_gunicorn_without_debug_and_starts_worker_and_beat(tmp_path):
    if not shutil.which("make"):
        pytest.fail("make is not installed")
    checkout = tmp_path / "kefu"
    _project_copy(checkout)
    port = _free_port()
    venv = Path(sys.prefix)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KEFU_", "DATABASE_URL", "REDIS",
                                                                    "CELERY", "PYTEST"))}
    env.update({"KEFU_PORT": str(port), "KEFU_ADMIN_PASSWORD": "Smoke-Test-Pass-1"})
    log_path = tmp_path / "make-run.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(["make", "run", f"VENV={venv}"], cwd=checkout, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, page, server = time.monotonic() + 240, None, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=2) as response:
                    page, server = response.read().decode(), response.headers.get("Server", "")
                    break
            except OSError:
                time.sleep(0.5)
        assert page is not None, log_path.read_text()[-3000:]
        assert "登录" in page  # the admin speaks Simplified Chinese by default
        assert "gunicorn" in server.lower(), server
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/admin/css/base.css", timeout=5) as response:
            assert response.status == 200 and b"body" in response.read()
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/no-such-page/", timeout=5)
        body = missing.value.read().decode()
        assert missing.value.code == 404
        assert "URLconf" not in body and "DEBUG" not in body  # Django's debug 404 lists the URL patterns
        assert "DJANGO_DEBUG" not in (checkout / ".env").read_text()

        worker_env = {**env, "DJANGO_SETTINGS_MODULE": "kefu.settings.local"}
        ping = None
        while time.monotonic() < deadline:
            ping = subprocess.run([str(venv / "bin" / "celery"), "-A", "kefu", "inspect", "ping", "-t", "2"],
                                  cwd=checkout, env=worker_env, capture_output=True, text=True)
            if ping.returncode == 0 and "pong" in ping.stdout:
                break
            time.sleep(1)
        assert ping is not None and "pong" in ping.stdout, ping.stdout + ping.stderr + log_path.read_text()[-3000:]

        while time.monotonic() < deadline and "beat: Starting" not in log_path.read_text():
            time.sleep(0.5)
        output = log_path.read_text()
        assert "beat: Starting" in output, output[-3000:]
        assert "Superadmin created: admin" in output
        assert process.poll() is None, output[-3000:]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
