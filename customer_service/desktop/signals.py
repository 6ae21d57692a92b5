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


def connect() -> None:
    from configs.models import UserConfig
    from customer_service.models import Shop

    post_save.connect(_shop_saved, sender=Shop, dispatch_uid="desktop_schedule_shop")
    post_save.connect(_config_saved, sender=UserConfig, dispatch_uid="desktop_schedule_settings")
