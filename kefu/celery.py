"""The Celery app: settings come from Django's CELERY_* keys, tasks from each app."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings.local")

app = Celery("kefu")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in ("default", "llm", "desktop")]
app.autodiscover_tasks()


@app.task(name="kefu.ping")
def ping():
    """Round trip through the broker, used by the health check and smoke tests."""
    return "pong"
