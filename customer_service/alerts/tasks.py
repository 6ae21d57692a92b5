"""Celery tasks of the alerts: thin, each calls one service; delivery owns its retries."""

from celery import shared_task
from django.conf import settings

# Merged into the beat schedule in CustomerServiceConfig.ready().
BEAT_SCHEDULE = {
    "alerts-dispatch-due": {
        "task": "alerts.dispatch_due",
        "schedule": float(getattr(settings, "KEFU_ALERT_DISPATCH_INTERVAL_SECONDS", 60)),
        "options": {"queue": "default"},
    },
    "alerts-check-budgets": {
        "task": "alerts.check_budgets",
        "schedule": float(getattr(settings, "KEFU_ALERT_BUDGET_CHECK_INTERVAL_SECONDS", 300)),
        "options": {"queue": "default"},
    },
}


@shared_task(name="alerts.notify_event", acks_late=True)
def alert_event_notify_task(event_id: int, phase: str):
    from .services import alert_event_notify

    return alert_event_notify(event_id=event_id, phase=phase)


@shared_task(name="alerts.send_delivery", acks_late=True)
def alert_delivery_send_task(delivery_id: int):
    """One attempt; a failure that may pass is tried again after the service's backoff, as a new message with
    a countdown (what ``Task.retry`` sends, without its retry count: the delivery row counts the attempts, and
    the service stops asking once they run out)."""
    from .services import alert_delivery_send

    outcome = alert_delivery_send(delivery_id=delivery_id)
    if outcome.retry_in is not None:
        alert_delivery_send_task.apply_async((delivery_id,), countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="alerts.dispatch_due")
def alert_dispatch_due_task():
    from .services import alert_dispatch_due

    return alert_dispatch_due()


@shared_task(name="alerts.check_budgets")
def alert_budgets_check_task():
    from .checks import alert_budgets_check

    return alert_budgets_check()
