"""Real servers for the test suite: PostgreSQL (with pgvector when built) and Redis.

``--db=postgres`` runs the whole suite against a PostgreSQL server started
here in a temporary directory; the default is SQLite. With CI=true a missing
server fails the run instead of skipping what needs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def missing(component: str, why: str):
    """Fail under CI, skip elsewhere: a test that needs ``component`` cannot run."""
    message = f"{component} is not available: {why}"
    if IN_CI:
        pytest.fail(message + " (CI=true: a missing server fails the run)", pytrace=False)
    pytest.skip(message)


def find_binary(name: str, extra_dirs=()) -> str | None:
    for directory in extra_dirs:
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    return shutil.which(name)


def _as_postgres_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


class PostgresServer:
    """A throw-away PostgreSQL cluster on 127.0.0.1, owned by the postgres user when run as root."""

    def __init__(self):
        self.initdb = find_binary("initdb", PG_BIN_DIRS)
        self.pg_ctl = find_binary("pg_ctl", PG_BIN_DIRS)
        if not self.initdb or not self.pg_ctl:
            raise RuntimeError("initdb/pg_ctl not found (apt-get install postgresql)")
        self.dir = Path(tempfile.mkdtemp(prefix="kefu-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.has_pgvector = False
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/kefu"

    def start(self) -> PostgresServer:
        run = lambda cmd: subprocess.run(_as_postgres_user(cmd), check=True, capture_output=True, text=True)  # noqa: E731
        run([self.initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync",
             "--locale=C.UTF-8"])
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        run([self.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "start"])
        psql = find_binary("psql", PG_BIN_DIRS) or "psql"
        sql = lambda db, command: subprocess.run(  # noqa: E731
            [psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", db, "-c", command],
            capture_output=True, text=True,
        )
        sql("postgres", "CREATE DATABASE kefu").check_returncode()
        # In template1, so the test database pytest-django creates has it too.
        self.has_pgvector = sql("template1", "CREATE EXTENSION IF NOT EXISTS vector").returncode == 0
        return self

    def stop(self) -> None:
        subprocess.run(_as_postgres_user([self.pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    def __init__(self):
        self.binary = find_binary("redis-server")
        if not self.binary:
            raise RuntimeError("redis-server not found (apt-get install redis-server)")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="kefu-redis-"))
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not answer PING within 10 s")

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


_postgres: PostgresServer | None = None


def pytest_addoption(parser):
    parser.addoption("--db", choices=["sqlite", "postgres"], default=os.environ.get("KEFU_TEST_DB", "sqlite"),
                     help="database the suite runs on (postgres starts a server in a temporary directory)")
    parser.addoption("--one-pass-each", action="store_true",
                     help="one of make test's two passes: tests in ONE_PASS run on their own database only")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    global _postgres
    wanted = os.environ.get("KEFU_TEST_DB", "sqlite")
    for index, arg in enumerate(args):
        if arg.startswith("--db="):
            wanted = arg.split("=", 1)[1]
        elif arg == "--db" and index + 1 < len(args):
            wanted = args[index + 1]
    if wanted != "postgres":
        os.environ.pop("DATABASE_URL", None)
        return
    try:
        _postgres = PostgresServer().start()
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise pytest.UsageError(f"--db=postgres: PostgreSQL could not be started: {detail}") from None
    os.environ["DATABASE_URL"] = _postgres.url


def pytest_unconfigure(config):
    if _postgres is not None:
        _postgres.stop()


def pytest_report_header(config):
    if _postgres:
        return f"kefu database: PostgreSQL {_postgres.url} (pgvector: {_postgres.has_pgvector}); CI={IN_CI}"
    return f"kefu database: SQLite; CI={IN_CI}"


# `make test` runs the suite twice, on SQLite then on PostgreSQL. These tests exercise what does not depend on
# the database (the API schema, real windows, a real browser, `make run`) or the production pair (the fault
# test: PostgreSQL with Redis), so with --one-pass-each they run in one of the two passes only.
ONE_PASS = {
    "tests/test_schemathesis.py": "sqlite",
    "tests/e2e/": "sqlite",
    "tests/customer_service/outbox/test_fault.py": "postgres",
}


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--one-pass-each"):
        return
    database = config.getoption("--db")
    keep, elsewhere = [], []
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        wanted = next((db for prefix, db in ONE_PASS.items() if path.startswith(prefix)), database)
        (keep if wanted == database else elsewhere).append(item)
    if elsewhere:
        config.hook.pytest_deselected(items=elsewhere)
        items[:] = keep
