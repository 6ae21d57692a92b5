"""Writes for configs. Every config write validates, encrypts, versions and records history in one transaction.

Callers (admin, API, Celery, commands) pass ``actor`` and, when they have them, ``reason``,
``ip`` and ``user_agent`` for the history row. One module per kind of row: user configs
(a person's or a shop's, with shop settings on top), templates, system configs, and the
re-encryption of secrets; the values they store are checked in ``configs.values``, and the
export and import, which write through these, live in ``configs.transfer``.
"""

from .rotation import secrets_reencrypt
from .shop_settings import shop_settings_update
from .system_configs import (
    system_config_create,
    system_config_delete,
    system_config_rollback,
    system_config_update,
    system_secret_needs_new_value,
)
from .templates import template_create, template_delete, template_update
from .user_configs import (
    config_change,
    config_create,
    config_delete,
    config_expire_due,
    config_expiry_validate,
    config_is_manageable,
    config_rollback,
    config_set_active,
    config_update,
    history_cleanup,
)

__all__ = [
    "config_change",
    "config_create",
    "config_delete",
    "config_expire_due",
    "config_expiry_validate",
    "config_is_manageable",
    "config_rollback",
    "config_set_active",
    "config_update",
    "history_cleanup",
    "secrets_reencrypt",
    "shop_settings_update",
    "system_config_create",
    "system_config_delete",
    "system_config_rollback",
    "system_config_update",
    "system_secret_needs_new_value",
    "template_create",
    "template_delete",
    "template_update",
]
