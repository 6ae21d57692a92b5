"""The versions and history of user configs: a write is version n+1 only if the row is still at n,
and every write leaves a history row with secrets masked."""

from __future__ import annotations

import copy

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.exceptions import full_clean

from .. import schema as schema_utils
from ..choices import HistoryAction
from ..exceptions import ConfigConflict, ConfigNotFound, ConfigValidationError
from ..models import ConfigHistory, SystemConfigHistory, UserConfig


def person(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def history_record(
    *,
    config: UserConfig,
    action: str,
    actor,
    old: dict | None,
    old_paths: list[str],
    reason: str,
    ip: str | None,
    user_agent: str,
) -> ConfigHistory:
    new = config.values if action != HistoryAction.DELETE else None
    secrets = config.template.secret_paths()
    return history_saved(ConfigHistory(
        config=config,
        config_ref=config.pk,
        template=config.template,
        actor=person(actor),
        action=action,
        version=config.version,
        old_values=schema_utils.masked(old, sorted(set(old_paths) | set(secrets))),
        new_values=schema_utils.masked(new, config.secret_paths()) if new is not None else None,
        snapshot=copy.deepcopy(new),
        reason=(reason or "")[:500],
        ip=ip or None,
        user_agent=(user_agent or "")[:512],
    ))


def history_saved(row: ConfigHistory | SystemConfigHistory):
    """Save a history row once its own fields pass their rules: the reason is typed by a person."""
    full_clean(row, error=ConfigValidationError, exclude=[f.name for f in row._meta.fields if f.is_relation],
               validate_unique=False, validate_constraints=False)
    row.save(force_insert=True)
    return row


def raise_conflict(config: UserConfig, expected: int) -> None:
    """Raise ConfigNotFound if the row is gone, else ConfigConflict: it is no longer at version ``expected``."""
    current = UserConfig.objects.filter(pk=config.pk).values_list("version", flat=True).first()
    if current is None:
        raise ConfigNotFound(_("This config no longer exists."))
    raise ConfigConflict(
        _("This config was changed by someone else (now version %(current)s, you edited version %(expected)s). "
          "Reload it and apply your change again.") % {"current": current, "expected": expected},
        detail={"current_version": current, "expected_version": expected},
    )


def version_bump(config: UserConfig, *, actor, expected_version: int | None, **fields) -> None:
    """Save ``fields`` as version n+1 only if the row is still at version n; else ConfigConflict."""
    expected = config.version if expected_version is None else expected_version
    now = timezone.now()
    rows = UserConfig.objects.filter(pk=config.pk, version=expected).update(
        version=F("version") + 1, updated_at=now, updated_by=person(actor), **fields
    )
    if rows != 1:
        raise_conflict(config, expected)
    for name, value in fields.items():
        setattr(config, name, value)
    config.version = expected + 1
    config.updated_at = now
    config.updated_by = person(actor)
