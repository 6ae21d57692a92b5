"""Celery tasks of the outbox: thin, each calls one service."""

from celery import shared_task


@shared_task(name="outbox.expire_send_leases")
def outgoing_reply_expire_leases_task():
    """Beat: ``sending`` rows whose sender went quiet past the lease become ``unknown`` (never re-queued)."""
    from .services import outgoing_reply_expire_leases

    return outgoing_reply_expire_leases()


# Synced by django-celery-beat's DatabaseScheduler; added in CustomerServiceConfig.ready().
BEAT_SCHEDULE = {
    "outbox-expire-send-leases": {
        "task": "outbox.expire_send_leases",
        "schedule": 30.0,
        "options": {"queue": "default", "expires": 30},
    },
}
