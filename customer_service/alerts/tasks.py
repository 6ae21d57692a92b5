"""Celery tasks of the alerts: thin, each calls one service; delivery owns its retries."""

from celery import shared_task


@shared_task(name="alerts.notify_event", acks_late=True)
def alert_event_notify_task(event_id: int, phase: str):
    from .services import alert_event_notify

    return alert_event_notify(event_id=event_id, phase=phase)


@shared_task(bind=True, name="alerts.send_delivery", acks_late=True, max_retries=None)
def alert_delivery_send_task(self, delivery_id: int):
    """One attempt; a failure that may pass is tried again after the service's backoff
    (the service stops asking once the attempts run out, so this task needs no limit of its own)."""
    from .services import alert_delivery_send

    outcome = alert_delivery_send(delivery_id=delivery_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.status


@shared_task(name="alerts.dispatch_due")
def alert_dispatch_due_task():
    from .services import alert_dispatch_due

    return alert_dispatch_due()
