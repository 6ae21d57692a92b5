"""Writes of user configs (a person's or a shop's): create, update, switch on and off, roll back,
delete, expire; each validates, versions and records history in one transaction."""

from __future__ import annotations

import copy
import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customer_service.shops.selectors import shop_is_manageable
from kefu import crypto
from kefu.exceptions import full_clean
from kefu.scoping import is_signed_in

from .. import cache as config_cache
from .. import schema as schema_utils
from ..choices import ConfigScope, HistoryAction
from ..constants import DEFAULT_CONFIG_KEY
from ..exceptions import ConfigConflict, ConfigError, ConfigNotFound, ConfigPermissionDenied, ConfigValidationError
from ..models import ConfigHistory, ConfigTemplate, SystemConfigHistory, UserConfig
from ..values import config_values_prepare, secure_document
from .versions import history_record, person, raise_conflict, version_bump

logger = logging.getLogger(__name__)


def _local_time(moment: datetime) -> str:
    """``moment`` as the operators read it: in the site's time zone (Asia/Shanghai), not the database's UTC."""
    return timezone.localtime(moment).isoformat(sep=" ", timespec="seconds")


def config_expiry_validate(expires_at: datetime | None, *, active: bool) -> None:
    """An active config that expires in the past would be served as if it had not expired: refuse it.

    Raises ConfigValidationError. Forms call it too, so the refusal is a field error on the page.
    """
    if active and expires_at is not None and expires_at <= timezone.now():
        raise ConfigValidationError(
            _("The expiry time %(t)s is in the past; an active config must expire later.")
            % {"t": _local_time(expires_at)},
            detail=[{"path": "expires_at", "message": "in the past"}],
        )


def _check_owner(*, actor, user, shop) -> None:
    """Who may own a new config, when a person (not the system) creates it.

    Exactly one owner; a shop only by its admin (or a superadmin); a person other than
    ``actor`` only by a superadmin. Raises ConfigValidationError, ConfigPermissionDenied.
    """
    if user is not None and shop is not None:
        raise ConfigValidationError(_("Give a user or a shop, not both."),
                                    detail=[{"path": "shop", "message": "a user or a shop, not both"}])
    if user is None and shop is None:
        raise ConfigValidationError(_("A config belongs to a user or a shop."),
                                    detail=[{"path": "user", "message": "no owner"}])
    if actor is None:
        return  # the system itself: commands run by the operator, scheduled jobs
    if not is_signed_in(actor):
        raise ConfigPermissionDenied(_("Sign in to create a config."))
    if shop is not None and not shop_is_manageable(user=actor, shop=shop):
        raise ConfigPermissionDenied(_("Only an admin of %(shop)s may add configs to it.") % {"shop": shop})
    if user is not None and user.pk != actor.pk and not actor.is_superadmin:
        raise ConfigPermissionDenied(_("You may only create configs for yourself."))


def config_is_manageable(*, actor, config: UserConfig) -> bool:
    """Whether ``actor`` may change ``config``: its owner, an admin of its shop, or a superadmin.

    The rule of ``UserConfig.objects.manageable_by``, answered from the row and the person's cached roles.
    """
    if not is_signed_in(actor):
        return False
    if actor.is_superadmin:
        return True
    if config.shop_id is not None:
        return shop_is_manageable(user=actor, shop=config.shop_id)
    return config.user_id == actor.pk


def _require_manageable(*, actor, config: UserConfig) -> None:
    """A person changes only the configs they manage; ``actor`` None is the system (commands, jobs)."""
    if actor is not None and not config_is_manageable(actor=actor, config=config):
        raise ConfigPermissionDenied(_("You may not change this config."))


@transaction.atomic
def config_create(
    *,
    actor,
    template: ConfigTemplate,
    values: dict | None = None,
    user=None,
    shop=None,
    key: str = DEFAULT_CONFIG_KEY,
    display_name: str = "",
    scope: str = ConfigScope.GLOBAL,
    expires_at: datetime | None = None,
    is_active: bool = True,
    reason: str = "",
    ip: str | None = None,
    user_agent: str = "",
    encrypted_secrets: bool = False,
) -> UserConfig:
    """Create a config (version 1) for ``user`` or ``shop`` and record it.

    ``actor`` None is the system (commands, jobs); a person may create configs for
    themselves, for the shops they administer, and (a superadmin) for anyone.
    ``encrypted_secrets``: secrets in ``values`` may be ciphertext under one of
    our keys (``config_import --with-secrets``). Raises ConfigValidationError
    (schema, rules, owner), ConfigPermissionDenied (an owner ``actor`` may not give
    a config), ConfigConflict (owner + template + key taken).
    """
    _check_owner(actor=actor, user=user, shop=shop)
    if not template.is_active:
        raise ConfigValidationError(_("Template '%(code)s' is not active.") % {"code": template.code})
    config_expiry_validate(expires_at, active=is_active)
    document, paths = config_values_prepare(template=template, values=values or {}, allow_ciphertext=encrypted_secrets)
    config = UserConfig(
        template=template, user=user, shop=shop, key=key, display_name=display_name, values=document,
        encrypted_paths=paths, scope=scope, expires_at=expires_at, is_active=is_active, version=1,
    )
    config.stamp(actor)
    full_clean(config, error=ConfigValidationError)
    try:
        with transaction.atomic():
            config.save()
    except IntegrityError:
        raise ConfigConflict(_("A config with this template and key already exists for this owner.")) from None
    history_record(config=config, action=HistoryAction.CREATE, actor=actor, old=None, old_paths=[], reason=reason,
            ip=ip, user_agent=user_agent)
    config_cache.invalidate(config_cache.config_key(config))
    logger.info("config %s created (template %s, v1) by %s", config.pk, template.code, person(actor))
    return config


@transaction.atomic
def config_update(
    *,
    config: UserConfig,
    actor,
    values: dict | None = None,
    expected_version: int | None = None,
    display_name: str | None = None,
    scope: str | None = None,
    expires_at: datetime | type[Ellipsis] | None = ...,
    reason: str = "",
    ip: str | None = None,
    user_agent: str = "",
    encrypted_secrets: bool = False,
) -> UserConfig:
    """Replace the values (and optionally name / scope / expiry) as a new version.

    ``values`` is the whole document (defaults fill what is left out; a
    secret left out or sent masked is kept). ``expected_version`` is the
    version the caller edited; a newer one in the database raises
    ConfigConflict and nothing is written. ConfigPermissionDenied: ``actor`` does not manage it.
    """
    _require_manageable(actor=actor, config=config)
    old, old_paths = copy.deepcopy(config.values), list(config.encrypted_paths)
    fields: dict[str, Any] = {}
    if values is not None:
        fields["values"], fields["encrypted_paths"] = config_values_prepare(
            template=config.template, values=values, current=config.values, current_paths=config.encrypted_paths,
            allow_ciphertext=encrypted_secrets,
        )
    if display_name is not None:
        fields["display_name"] = display_name
    if scope is not None:
        fields["scope"] = scope
    if expires_at is not ...:
        if expires_at != config.expires_at:
            config_expiry_validate(expires_at, active=config.is_active)
        fields["expires_at"] = expires_at
    probe = copy.copy(config)
    for name, value in fields.items():
        setattr(probe, name, value)
    full_clean(probe, error=ConfigValidationError, exclude=["values", "encrypted_paths"], validate_unique=False)
    version_bump(config, actor=actor, expected_version=expected_version, **fields)
    history_record(config=config, action=HistoryAction.UPDATE, actor=actor, old=old, old_paths=old_paths,
            reason=reason, ip=ip, user_agent=user_agent)
    config_cache.invalidate(config_cache.config_key(config))
    logger.info("config %s updated to v%s by %s", config.pk, config.version, person(actor))
    return config


_UNSET: Any = object()


@transaction.atomic
def config_change(
    *,
    actor,
    config: UserConfig,
    expected_version: int | None = None,
    values: dict | None = _UNSET,
    display_name: str = _UNSET,
    scope: str = _UNSET,
    expires_at: datetime | None = _UNSET,
    is_active: bool = _UNSET,
    reason: str = "",
    ip: str | None = None,
    user_agent: str = "",
) -> UserConfig:
    """A person's edit of a config (the admin's change form, the API's PUT and PATCH), as one action.

    Fields left out stay as they are; a field given with the value it already has is no change.
    1. ``actor`` must be able to change the config (ConfigPermissionDenied).
    2. Given values are checked against the template (ConfigValidationError), then compared
       with the stored document: a masked or left-out secret is unchanged.
    3. Nothing changes: nothing is written, whatever ``expected_version`` says (a stale
       version matters only when it would overwrite something).
    4. Else ``expected_version`` (the version the person edited) must still be current
       (ConfigConflict), and the changes are written in this order, each a version with
       its history row: switched off first (an inactive config may be given an expiry in
       the past), then the values and fields, then switched on. A refusal at any step
       leaves the config as it was.
    """
    if actor is None or not config_is_manageable(actor=actor, config=config):
        raise ConfigPermissionDenied(_("You may not change this config."))
    config = UserConfig.objects.select_for_update().select_related("template").get(pk=config.pk)
    fields: dict[str, Any] = {}
    if values is not _UNSET and values is not None:
        document, paths = config_values_prepare(
            template=config.template, values=values, current=config.values, current_paths=config.encrypted_paths)
        if (document, paths) != (config.values, sorted(config.encrypted_paths)):
            fields["values"] = values
    for name, value in (("display_name", display_name), ("scope", scope), ("expires_at", expires_at)):
        if value is not _UNSET and value != getattr(config, name) and not (name != "expires_at" and value is None):
            fields[name] = value
    switch = None if is_active is _UNSET or is_active is None or is_active == config.is_active else is_active
    if not fields and switch is None:
        return config
    if expected_version is not None and expected_version != config.version:
        raise_conflict(config, expected_version)
    meta = {"actor": actor, "reason": reason, "ip": ip, "user_agent": user_agent}
    if switch is False:
        config_set_active(config=config, active=False, **meta)
    if fields:
        config_update(config=config, expires_at=fields.pop("expires_at", ...), **fields, **meta)
    if switch is True:
        config_set_active(config=config, active=True, **meta)
    return config


@transaction.atomic
def config_set_active(
    *,
    config: UserConfig,
    actor,
    active: bool,
    expected_version: int | None = None,
    reason: str = "",
    ip: str | None = None,
    user_agent: str = "",
) -> UserConfig:
    """Activate or deactivate; recorded as its own version with the values unchanged.

    Already so: nothing is written, but an ``expected_version`` that is not
    the current one still raises ConfigConflict (the caller decided on stale
    data). Raises ConfigValidationError when activating an expired config, ConfigPermissionDenied.
    """
    _require_manageable(actor=actor, config=config)
    if config.is_active == active:
        if expected_version is not None and not UserConfig.objects.filter(
                pk=config.pk, version=expected_version).exists():
            raise_conflict(config, expected_version)
        return config
    if active and config.is_expired:
        raise ConfigValidationError(
            _("This config expired at %(t)s; give it a later expiry before activating it.")
            % {"t": _local_time(config.expires_at)},
            detail=[{"path": "expires_at", "message": "expired"}],
        )
    version_bump(config, actor=actor, expected_version=expected_version, is_active=active)
    history_record(config=config, action=HistoryAction.ACTIVATE if active else HistoryAction.DEACTIVATE, actor=actor,
            old=config.values, old_paths=config.encrypted_paths, reason=reason, ip=ip, user_agent=user_agent)
    config_cache.invalidate(config_cache.config_key(config))
    return config


def _held_secrets(document: Any, prefix: str = "") -> list[str]:
    """Paths of ``document`` holding a secret this app encrypted for that path (whatever the template says now)."""
    found = []
    for key, value in (document.items() if isinstance(document, dict) else ()):
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            found.extend(_held_secrets(value, path))
        elif crypto.is_ciphertext(value):
            try:  # the ciphertext is bound to its path: a look-alike typed as text does not decrypt
                schema_utils.decrypt_secret(path, value)
            except crypto.DecryptionError:
                continue
            found.append(path)
    return found


@transaction.atomic
def config_rollback(
    *,
    config: UserConfig,
    version: int,
    actor,
    expected_version: int | None = None,
    reason: str = "",
    ip: str | None = None,
    user_agent: str = "",
) -> UserConfig:
    """Restore exactly the values of ``version`` as a new version (action "rollback").

    Raises ConfigNotFound for an unknown version, ConfigValidationError when
    the template has since changed so that those values no longer fit, ConfigPermissionDenied.
    """
    _require_manageable(actor=actor, config=config)
    entry = (
        ConfigHistory.objects.filter(config_ref=config.pk, version=version, snapshot__isnull=False)
        .order_by("-pk")
        .first()
    )
    if entry is None:
        raise ConfigNotFound(
            _("Config #%(id)s has no version %(version)s to roll back to.") % {"id": config.pk, "version": version}
        )
    if version == config.version:
        raise ConfigError(_("Version %(v)s is already the current version.") % {"v": version}, code="config_noop")
    # Today's secret fields are encrypted, even if the field was not secret when that version was written;
    # a secret of a field that is no longer secret is restored encrypted, as it was stored.
    restored, paths, _not_text = secure_document(entry.snapshot, config.template.secret_paths())
    paths = sorted({*paths, *_held_secrets(restored)})
    plain = schema_utils.decrypted(restored, paths)
    config_values_prepare(template=config.template, values=plain, fill=False)  # still valid under today's schema?
    old, old_paths = copy.deepcopy(config.values), list(config.encrypted_paths)
    version_bump(config, actor=actor, expected_version=expected_version, values=restored, encrypted_paths=paths)
    history_record(config=config, action=HistoryAction.ROLLBACK, actor=actor, old=old, old_paths=old_paths,
            reason=reason or _("Rolled back to version %(v)s") % {"v": version}, ip=ip, user_agent=user_agent)
    config_cache.invalidate(config_cache.config_key(config))
    logger.info("config %s rolled back to v%s as v%s by %s", config.pk, version, config.version, person(actor))
    return config


@transaction.atomic
def config_delete(
    *,
    config: UserConfig,
    actor,
    expected_version: int | None = None,
    reason: str = "",
    ip: str | None = None,
    user_agent: str = "",
) -> None:
    """Delete the config; its history stays (an orphan, removed by ``config_cleanup`` after retention).

    Raises ConfigPermissionDenied when ``actor`` does not manage it, ConfigConflict (stale version).
    """
    _require_manageable(actor=actor, config=config)
    key = config_cache.config_key(config)
    version_bump(config, actor=actor, expected_version=expected_version)
    history_record(config=config, action=HistoryAction.DELETE, actor=actor, old=config.values,
            old_paths=config.encrypted_paths, reason=reason, ip=ip, user_agent=user_agent)
    config.delete()
    config_cache.invalidate(key)


def config_expire_due(*, now: datetime | None = None) -> int:
    """Deactivate every active config whose ``expires_at`` has passed; each is recorded. Returns the count."""
    now = now or timezone.now()
    count = 0
    for pk in UserConfig.objects.due_to_expire(now).values_list("pk", flat=True):
        with transaction.atomic():
            config = UserConfig.objects.select_for_update().select_related("template").filter(pk=pk).first()
            if config is None or not config.is_active or config.expires_at is None or config.expires_at > now:
                continue
            config_set_active(config=config, actor=None, active=False, reason=_("Expired at %(t)s") % {
                "t": _local_time(config.expires_at)})
            count += 1
    return count


def history_cleanup(*, older_than_days: int, dry_run: bool = False) -> int:
    """Delete history rows of deleted configs and system configs older than ``older_than_days``; the count."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    rows = ConfigHistory.objects.orphaned().filter(created_at__lt=cutoff)
    system_rows = SystemConfigHistory.objects.filter(system_config__isnull=True, created_at__lt=cutoff)
    count = rows.count() + system_rows.count()
    if not dry_run:
        rows.delete()
        system_rows.delete()
    return count
