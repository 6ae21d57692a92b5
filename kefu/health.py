"""Checks of the services kefu depends on, shared by /health and `manage.py diagnose`."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import connections


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"ok": self.ok, "detail": self.detail, **self.extra}


def _timed(name, fn) -> CheckResult:
    started = time.monotonic()
    try:
        detail, extra = fn()
        ok = True
    except Exception as exc:  # a check reports any failure as "down", with its reason
        detail, extra, ok = f"{type(exc).__name__}: {exc}", {}, False
    extra = {**extra, "ms": round((time.monotonic() - started) * 1000, 1)}
    return CheckResult(name=name, ok=ok, detail=detail, extra=extra)


def check_database() -> CheckResult:
    def run():
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return connections["default"].vendor, {}

    return _timed("database", run)


def check_cache() -> CheckResult:
    def run():
        key, value = f"health:{uuid.uuid4().hex}", uuid.uuid4().hex
        cache.set(key, value, 10)
        if cache.get(key) != value:
            raise RuntimeError("a value written to the cache did not come back")
        cache.delete(key)
        return settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1], {}

    return _timed("cache", run)


def check_broker() -> CheckResult:
    from kefu.celery import app

    def run():
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            return conn.as_uri(), {}

    return _timed("broker", run)


def check_worker_queues(timeout: float = 1.5) -> list[CheckResult]:
    """One result per queue in KEFU_HEALTH_QUEUES: up when a live worker consumes it."""
    from kefu.celery import app

    started = time.monotonic()
    try:
        replies = app.control.inspect(timeout=timeout).active_queues() or {}
        error = ""
    except Exception as exc:  # broker down: every queue is down for the same reason
        replies, error = {}, f"{type(exc).__name__}: {exc}"
    elapsed = round((time.monotonic() - started) * 1000, 1)
    workers_by_queue: dict[str, list[str]] = {}
    for worker, queues in replies.items():
        for queue in queues or []:
            workers_by_queue.setdefault(queue["name"], []).append(worker)
    results = []
    for queue in settings.KEFU_HEALTH_QUEUES:
        workers = sorted(workers_by_queue.get(queue, []))
        detail = ", ".join(workers) if workers else (error or "no worker consumes this queue")
        results.append(CheckResult(name=f"queue:{queue}", ok=bool(workers), detail=detail, extra={"ms": elapsed}))
    return results


def run_service_checks() -> list[CheckResult]:
    broker = check_broker()
    if broker.ok:
        queues = check_worker_queues()
    else:
        # Asking workers through a broker that is down only waits out its retries.
        queues = [CheckResult(name=f"queue:{queue}", ok=False, detail="the broker is down")
                  for queue in settings.KEFU_HEALTH_QUEUES]
    return [check_database(), check_cache(), broker, *queues]
