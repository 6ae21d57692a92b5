"""Upkeep: a shop's poll schedule follows its settings as soon as they are saved (the minutely sync task is
the safety net)."""

import logging

from django.db import transaction
from django.db.models.signals import post_save

logger = logging.getLogger(__name__)

SHOP_SETTINGS_TEMPLATE = "shop_settings"


def _sync_later(shop_id) -> None:
    if shop_id is None:
        return

    def sync():
        from .services import desktop_schedules_sync

        try:
            desktop_schedules_sync(shop_ids=[shop_id])
        except Exception:  # upkeep never fails the save; the minutely sync task catches up
            logger.exception("Could not bring the poll schedule of shop %s in step with its settings", shop_id)

    transaction.on_commit(sync)


def _shop_saved(sender, instance, **kwargs):
    _sync_later(instance.pk)


def _config_saved(sender, instance, **kwargs):
    if instance.shop_id is not None and instance.template.code == SHOP_SETTINGS_TEMPLATE:
        _sync_later(instance.shop_id)


def _outgoing_saved(sender, instance, created, **kwargs):
    """A reply queued for a buyer is handed to the desktop worker at once instead of at its next poll (the poll
    still sends whatever is due, so a lost hand-over only costs that wait)."""
    if not created:
        return
    from django.conf import settings

    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        return  # run eagerly, the send would type from inside whichever process queued the reply
    outgoing_id, shop_id, created_at = instance.pk, instance.shop_id, instance.created_at
    shop = instance.shop if sender.shop.is_cached(instance) else None

    def dispatch():
        from .services import desktop_dispatch

        try:
            desktop_dispatch(outgoing_id=outgoing_id, shop_id=shop_id, created_at=created_at, shop=shop)
        except Exception:  # the poll sends it anyway
            logger.exception("Could not hand outgoing reply %s to the desktop worker", outgoing_id)

    transaction.on_commit(dispatch)


def connect() -> None:
    from configs.models import UserConfig
    from customer_service.models import OutgoingReply, Shop

    post_save.connect(_shop_saved, sender=Shop, dispatch_uid="desktop_schedule_shop")
    post_save.connect(_outgoing_saved, sender=OutgoingReply, dispatch_uid="desktop_dispatch_outgoing")
    post_save.connect(_config_saved, sender=UserConfig, dispatch_uid="desktop_schedule_settings")
