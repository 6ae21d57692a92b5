"""The Celery app: settings come from Django's CELERY_* keys, tasks from each app."""

import os

from celery import Celery
from celery.signals import task_prerun
from django.db import close_old_connections
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings.local")

app = Celery("kefu")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in ("default", "llm", "desktop")]
app.autodiscover_tasks()


def _ensure_filesystem_broker_folders() -> None:
    # kombu's filesystem transport expects its folders to exist.
    options = app.conf.broker_transport_options or {}
    if str(app.conf.broker_url).startswith("filesystem://"):
        for key in ("data_folder_in", "data_folder_out", "control_folder"):
            if options.get(key):
                os.makedirs(options[key], exist_ok=True)


app.on_after_configure.connect(lambda sender, **kwargs: _ensure_filesystem_broker_folders(), weak=False)


@task_prerun.connect(weak=False, dispatch_uid="kefu-task-connections")
def _drop_stale_connections(task=None, **kwargs) -> None:
    """Before a worker's task, as before a web request: a connection past CONN_MAX_AGE or no longer usable is
    closed (Celery itself keeps connections for CELERY_DB_REUSE_MAX tasks). Not for a task run eagerly: it
    runs inside its caller's transaction."""
    if task is not None and not getattr(task.request, "is_eager", False):
        close_old_connections()


@app.task(name="kefu.ping")
def ping():
    """Round trip through the broker, used by the health check and smoke tests."""
    return "pong"
