"""Writes of system configs (typed key-value settings, optionally secret), with their own history."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu import crypto
from kefu.exceptions import full_clean

from .. import cache as config_cache
from .. import schema as schema_utils
from ..choices import HistoryAction
from ..constants import SECRET_PLACEHOLDER
from ..exceptions import ConfigConflict, ConfigError, ConfigNotFound, ConfigValidationError
from ..models import SystemConfig, SystemConfigHistory
from ..values import SYSTEM_CONTEXT, system_config_plain, system_value_parse, system_value_text
from .versions import history_saved, person


def system_secret_needs_new_value() -> str:
    """Why a secret cannot be switched to clear text with its stored value (the form says it too)."""
    return _("To stop it being a secret, give it a new value: the stored secret is never shown in clear.")


def _system_shown(config_like) -> Any:
    """The typed value as history and people see it: a secret masked."""
    if config_like.is_encrypted:
        try:
            return crypto.mask_secret(crypto.decrypt(config_like.value, context=SYSTEM_CONTEXT))
        except crypto.DecryptionError:
            return SECRET_PLACEHOLDER
    try:
        return system_value_parse(config_like.value_type, config_like.value)
    except ConfigValidationError:
        return config_like.value


def _system_record(*, config: SystemConfig, action: str, actor, old: Any, reason: str, ip: str | None,
                   user_agent: str) -> SystemConfigHistory:
    deleted = action == HistoryAction.DELETE
    return history_saved(SystemConfigHistory(
        system_config=config, key=config.key, actor=person(actor), action=action, version=config.version,
        value_type=config.value_type, is_encrypted=config.is_encrypted, old_value=old,
        new_value=None if deleted else _system_shown(config), snapshot="" if deleted else config.value,
        reason=(reason or "")[:500], ip=ip or None, user_agent=(user_agent or "")[:512],
    ))


@transaction.atomic
def system_config_create(
    *, actor, key: str, value_type: str, value: Any, description: str = "", is_public: bool = False,
    is_encrypted: bool = False, reason: str = "", ip: str | None = None, user_agent: str = "",
) -> SystemConfig:
    """Create a typed system config (version 1) and record it; ConfigValidationError for a bad value."""
    text = system_value_text(value_type, value)
    config = SystemConfig(key=key, value_type=value_type, description=description, is_public=is_public,
                          is_encrypted=is_encrypted)
    config.value = crypto.encrypt(text, context=SYSTEM_CONTEXT) if is_encrypted else text
    config.stamp(actor)
    if is_public and is_encrypted:
        raise ConfigValidationError(_("A secret system config cannot be public."))
    full_clean(config, error=ConfigValidationError)
    config.save()
    _system_record(config=config, action=HistoryAction.CREATE, actor=actor, old=None, reason=reason, ip=ip,
                   user_agent=user_agent)
    config_cache.invalidate(config_cache.system_key(key))
    return config


def _system_conflict(config: SystemConfig, expected: int) -> None:
    raise ConfigConflict(
        _("System config '%(key)s' was changed by someone else; reload it.") % {"key": config.key},
        detail={"expected_version": expected},
    )


def _system_save(config: SystemConfig, *, actor, expected_version: int | None, new: dict) -> None:
    expected = config.version if expected_version is None else expected_version
    rows = SystemConfig.objects.filter(pk=config.pk, version=expected).update(
        version=F("version") + 1, updated_at=timezone.now(), updated_by=person(actor), **new
    )
    if rows != 1:
        _system_conflict(config, expected)
    config.refresh_from_db()
    config_cache.invalidate(config_cache.system_key(config.key))


@transaction.atomic
def system_config_update(
    *, config: SystemConfig, actor, expected_version: int | None = None, reason: str = "", ip: str | None = None,
    user_agent: str = "", **fields
) -> SystemConfig:
    """Change a system config as a new version, recorded; ``value`` is checked against the (new) type.

    Nothing changed: nothing is written (ConfigConflict still, for a stale ``expected_version``).
    Made secret (``is_encrypted``): its earlier history rows are masked and encrypted too.
    """
    value_type = fields.get("value_type", config.value_type)
    is_encrypted = fields.get("is_encrypted", config.is_encrypted)
    is_public = fields.get("is_public", config.is_public)
    if is_public and is_encrypted:
        raise ConfigValidationError(_("A secret system config cannot be public."))
    if config.is_encrypted and not is_encrypted and "value" not in fields:
        # Keeping the value would store the secret in clear and show it in the list and the history.
        raise ConfigValidationError(system_secret_needs_new_value(), detail=[{"path": "value", "message": "required"}])
    stored = system_config_plain(config)
    text = system_value_text(value_type, fields.pop("value") if "value" in fields else stored, stored=stored)
    old = _system_shown(config)
    new = {
        "value_type": value_type, "is_encrypted": is_encrypted, "is_public": is_public,
        "description": fields.get("description", config.description),
        "value": crypto.encrypt(text, context=SYSTEM_CONTEXT) if is_encrypted else text,
    }
    if is_encrypted and config.is_encrypted and text == system_config_plain(config):
        new["value"] = config.value  # an unchanged secret keeps its ciphertext
    if all(getattr(config, name) == value for name, value in new.items()):
        # Nothing changes (an import of the same file, a form saved as it was): no version, no history row.
        if expected_version is not None and not SystemConfig.objects.filter(
                pk=config.pk, version=expected_version).exists():
            _system_conflict(config, expected_version)
        return config
    becomes_secret = is_encrypted and not config.is_encrypted
    _system_save(config, actor=actor, expected_version=expected_version, new=new)
    if becomes_secret:
        old = schema_utils.mask_shown(old)
        _system_history_encrypt(config)
    _system_record(config=config, action=HistoryAction.UPDATE, actor=actor, old=old, reason=reason, ip=ip,
                   user_agent=user_agent)
    return config


def _system_history_encrypt(config: SystemConfig) -> None:
    """The config became a secret: its history shows earlier values masked and keeps them encrypted.

    Each row is marked encrypted, so a rollback to an earlier version keeps it a secret.
    """
    for row in SystemConfigHistory.objects.filter(system_config=config, is_encrypted=False):
        SystemConfigHistory.objects.filter(pk=row.pk).update(
            is_encrypted=True, old_value=schema_utils.mask_shown(row.old_value),
            new_value=schema_utils.mask_shown(row.new_value),
            snapshot=crypto.encrypt(row.snapshot, context=SYSTEM_CONTEXT) if row.snapshot else "",
        )


@transaction.atomic
def system_config_rollback(
    *, config: SystemConfig, version: int, actor, expected_version: int | None = None, reason: str = "",
    ip: str | None = None, user_agent: str = "",
) -> SystemConfig:
    """Restore the type and value of ``version`` as a new version (action "rollback")."""
    entry = (SystemConfigHistory.objects.filter(system_config=config, version=version)
             .exclude(action=HistoryAction.DELETE).order_by("-pk").first())
    if entry is None:
        raise ConfigNotFound(_("System config '%(key)s' has no version %(v)s.") % {"key": config.key, "v": version})
    if version == config.version:
        raise ConfigError(_("Version %(v)s is already the current version.") % {"v": version}, code="config_noop")
    if entry.is_encrypted and config.is_public:
        raise ConfigValidationError(_("A secret system config cannot be public."))
    old = _system_shown(config)
    _system_save(config, actor=actor, expected_version=expected_version,
                 new={"value_type": entry.value_type, "is_encrypted": entry.is_encrypted, "value": entry.snapshot})
    _system_record(config=config, action=HistoryAction.ROLLBACK, actor=actor, old=old,
                   reason=reason or _("Rolled back to version %(v)s") % {"v": version}, ip=ip, user_agent=user_agent)
    return config


@transaction.atomic
def system_config_delete(*, config: SystemConfig, actor, reason: str = "", ip: str | None = None,
                         user_agent: str = "") -> None:
    """Delete a system config; its history stays, recorded with a "delete" row."""
    old = _system_shown(config)
    config.version += 1
    _system_record(config=config, action=HistoryAction.DELETE, actor=actor, old=old, reason=reason, ip=ip,
                   user_agent=user_agent)
    config_cache.invalidate(config_cache.system_key(config.key))
    config.delete()
