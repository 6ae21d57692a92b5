"""Celery tasks of the desktop side: thin, each calls one service.

``desktop.poll`` and ``desktop.send_reply`` run on queue ``desktop``, served by the desktop worker on the PC
where Qianniu is open (``celery -A kefu worker -Q desktop -P solo``); the upkeep tasks run on ``default``.
"""

from celery import shared_task


@shared_task(name="desktop.poll", queue="desktop", acks_late=False, ignore_result=True)
def desktop_poll_task(shop_id: int):
    """Beat, every shop's poll interval (one entry per shop, see ``desktop_schedules_sync``). Not acked late:
    a poll lost with its worker is simply the next one."""
    from .services import desktop_poll

    return desktop_poll(shop_id=shop_id)


@shared_task(name="desktop.send_reply", queue="desktop", ignore_result=True)
def desktop_send_reply_task(outgoing_id: int):
    """Type one queued reply into its shop's window (a row claimed by someone else, or not due, is left)."""
    from .services import desktop_send

    return desktop_send(outgoing_id=outgoing_id)


@shared_task(name="desktop.sync_schedules")
def desktop_schedules_sync_task(shop_ids=None):
    from .services import desktop_schedules_sync

    return desktop_schedules_sync(shop_ids=shop_ids)


@shared_task(name="desktop.purge_captures")
def capture_records_purge_task():
    from .services import capture_records_purge

    return capture_records_purge()


# Synced by django-celery-beat's DatabaseScheduler; added in CustomerServiceConfig.ready().
BEAT_SCHEDULE = {
    "desktop-sync-schedules": {
        "task": "desktop.sync_schedules",
        "schedule": 60.0,
        "options": {"queue": "default", "expires": 60},
    },
    "desktop-purge-captures": {
        "task": "desktop.purge_captures",
        "schedule": 3600.0,
        "options": {"queue": "default", "expires": 3600},
    },
}
