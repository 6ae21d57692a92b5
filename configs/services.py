"""Writes for configs. Every config write validates, encrypts, versions and records history in one transaction.

Callers (admin, API, Celery, commands) pass ``actor`` and, when they have
them, ``reason``, ``ip`` and ``user_agent`` for the history row.
"""

from __future__ import annotations

import copy
import json
import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from customer_service.shops.selectors import shop_is_manageable
from kefu import crypto
from kefu.exceptions import full_clean

from . import cache as config_cache
from . import schema as schema_utils
from .choices import ConfigScope, HistoryAction
from .constants import DEFAULT_CONFIG_KEY, SECRET_PLACEHOLDER, SHOP_SETTINGS_KEY, SHOP_SETTINGS_TEMPLATE
from .exceptions import (
    ConfigConflict,
    ConfigError,
    ConfigNotFound,
    ConfigPermissionDenied,
    ConfigValidationError,
)
from .models import ConfigCategory, ConfigHistory, ConfigTemplate, SystemConfig, SystemConfigHistory, UserConfig
from .values import (
    SYSTEM_CONTEXT,
    config_values_prepare,
    system_config_plain,
    system_value_parse,
    system_value_text,
)

logger = logging.getLogger(__name__)


def _person(actor):
    return actor if getattr(actor, "is_authenticated", False) else None



# --- history ------------------------------------------------------------------------


def _record(
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
    return _history_saved(ConfigHistory(
        config=config,
        config_ref=config.pk,
        template=config.template,
        actor=_person(actor),
        action=action,
        version=config.version,
        old_values=schema_utils.masked(old, sorted(set(old_paths) | set(secrets))),
        new_values=schema_utils.masked(new, config.secret_paths()) if new is not None else None,
        snapshot=copy.deepcopy(new),
        reason=(reason or "")[:500],
        ip=ip or None,
        user_agent=(user_agent or "")[:512],
    ))


def _history_saved(row: ConfigHistory | SystemConfigHistory):
    """Save a history row once its own fields pass their rules: the reason is typed by a person."""
    full_clean(row, error=ConfigValidationError, exclude=[f.name for f in row._meta.fields if f.is_relation],
               validate_unique=False, validate_constraints=False)
    row.save(force_insert=True)
    return row


def _raise_conflict(config: UserConfig, expected: int) -> None:
    """Raise ConfigNotFound if the row is gone, else ConfigConflict: it is no longer at version ``expected``."""
    current = UserConfig.objects.filter(pk=config.pk).values_list("version", flat=True).first()
    if current is None:
        raise ConfigNotFound(_("This config no longer exists."))
    raise ConfigConflict(
        _("This config was changed by someone else (now version %(current)s, you edited version %(expected)s). "
          "Reload it and apply your change again.") % {"current": current, "expected": expected},
        detail={"current_version": current, "expected_version": expected},
    )


def _bump(config: UserConfig, *, actor, expected_version: int | None, **fields) -> None:
    """Save ``fields`` as version n+1 only if the row is still at version n; else ConfigConflict."""
    expected = config.version if expected_version is None else expected_version
    now = timezone.now()
    rows = UserConfig.objects.filter(pk=config.pk, version=expected).update(
        version=F("version") + 1, updated_at=now, updated_by=_person(actor), **fields
    )
    if rows != 1:
        _raise_conflict(config, expected)
    for name, value in fields.items():
        setattr(config, name, value)
    config.version = expected + 1
    config.updated_at = now
    config.updated_by = _person(actor)


# --- configs ------------------------------------------------------------------------------


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

    ``encrypted_secrets``: secrets in ``values`` may be ciphertext under one of
    our keys (``config_import --with-secrets``). Raises ConfigValidationError
    (schema, rules, owner), ConfigConflict (owner + template + key taken).
    """
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
    _record(config=config, action=HistoryAction.CREATE, actor=actor, old=None, old_paths=[], reason=reason,
            ip=ip, user_agent=user_agent)
    config_cache.invalidate(config_cache.config_key(config))
    logger.info("config %s created (template %s, v1) by %s", config.pk, template.code, _person(actor))
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
    ConfigConflict and nothing is written.
    """
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
    _bump(config, actor=actor, expected_version=expected_version, **fields)
    _record(config=config, action=HistoryAction.UPDATE, actor=actor, old=old, old_paths=old_paths,
            reason=reason, ip=ip, user_agent=user_agent)
    config_cache.invalidate(config_cache.config_key(config))
    logger.info("config %s updated to v%s by %s", config.pk, config.version, _person(actor))
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
    data). Raises ConfigValidationError when activating an expired config.
    """
    if config.is_active == active:
        if expected_version is not None and not UserConfig.objects.filter(
                pk=config.pk, version=expected_version).exists():
            _raise_conflict(config, expected_version)
        return config
    if active and config.is_expired:
        raise ConfigValidationError(
            _("This config expired at %(t)s; give it a later expiry before activating it.")
            % {"t": _local_time(config.expires_at)},
            detail=[{"path": "expires_at", "message": "expired"}],
        )
    _bump(config, actor=actor, expected_version=expected_version, is_active=active)
    _record(config=config, action=HistoryAction.ACTIVATE if active else HistoryAction.DEACTIVATE, actor=actor,
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
    the template has since changed so that those values no longer fit.
    """
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
    restored, paths, _not_text = _secure_document(entry.snapshot, config.template.secret_paths())
    paths = sorted({*paths, *_held_secrets(restored)})
    plain = schema_utils.decrypted(restored, paths)
    config_values_prepare(template=config.template, values=plain, fill=False)  # still valid under today's schema?
    old, old_paths = copy.deepcopy(config.values), list(config.encrypted_paths)
    _bump(config, actor=actor, expected_version=expected_version, values=restored, encrypted_paths=paths)
    _record(config=config, action=HistoryAction.ROLLBACK, actor=actor, old=old, old_paths=old_paths,
            reason=reason or _("Rolled back to version %(v)s") % {"v": version}, ip=ip, user_agent=user_agent)
    config_cache.invalidate(config_cache.config_key(config))
    logger.info("config %s rolled back to v%s as v%s by %s", config.pk, version, config.version, _person(actor))
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
    """Delete the config; its history stays (an orphan, removed by ``config_cleanup`` after retention)."""
    key = config_cache.config_key(config)
    _bump(config, actor=actor, expected_version=expected_version)
    _record(config=config, action=HistoryAction.DELETE, actor=actor, old=config.values,
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


# --- templates and categories ----------------------------------------------------------


def _secure_document(document: Any, paths: list[str]) -> tuple[Any, list[str], list[str]]:
    """A copy of a stored document with each clear text at ``paths`` encrypted.

    Returns (document, the paths now holding ciphertext, the paths holding a
    value that is not text and so was left as it was).
    """
    if not isinstance(document, dict):
        return document, [], []
    document = copy.deepcopy(document)
    encrypted, not_text = [], []
    for path in paths:
        value = schema_utils.get_path(document, path)
        if crypto.is_ciphertext(value):
            encrypted.append(path)
        elif isinstance(value, str) and value != "":
            schema_utils.set_path(document, path, schema_utils.encrypt_secret(path, value))
            encrypted.append(path)
        elif value not in (None, ""):
            not_text.append(path)
    return document, encrypted, not_text


def _secure_template_configs(
    template: ConfigTemplate, paths: list[str], *, refuse_non_text: bool, dry_run: bool = False
) -> int:
    """Encrypt what the configs of ``template`` and their history still hold in clear at ``paths``; the count.

    1. Each config: clear text at a path is encrypted and the path added to
       ``encrypted_paths``. The value does not change, so no version and no
       history row. A value that is not text raises ConfigValidationError with
       ``refuse_non_text``, else stays (it is masked wherever it is shown).
    2. Each history row of the template: values it showed there are masked;
       its snapshot's are encrypted (a non-text value as its JSON text), so a
       rollback restores them encrypted.
    Caches are the caller's to invalidate.
    """
    count = 0
    if not paths:
        return count
    for config in UserConfig.objects.select_for_update().filter(template=template).order_by("pk"):
        document, encrypted, not_text = _secure_document(config.values, paths)
        if not_text and refuse_non_text:
            raise ConfigValidationError(
                _("Config #%(id)s holds a value at %(path)s that is not text, so that field cannot become secret. "
                  "Change that value first.") % {"id": config.pk, "path": not_text[0]},
                detail=[{"path": path, "message": f"config #{config.pk} holds a value that is not text"}
                        for path in not_text],
            )
        stored_paths = sorted(set(config.encrypted_paths) | set(encrypted))
        if document != config.values or stored_paths != sorted(config.encrypted_paths):
            count += 1
            if not dry_run:
                UserConfig.objects.filter(pk=config.pk).update(values=document, encrypted_paths=stored_paths)
    for row in ConfigHistory.objects.filter(template=template).order_by("pk").iterator():
        changes = {}
        for field in ("old_values", "new_values"):
            shown = getattr(row, field)
            if isinstance(shown, dict):
                scrubbed = copy.deepcopy(shown)
                for path in paths:
                    if schema_utils.has_path(scrubbed, path):
                        schema_utils.set_path(scrubbed, path, schema_utils.mask_shown(schema_utils.get_path(
                            scrubbed, path)))
                if scrubbed != shown:
                    changes[field] = scrubbed
        if isinstance(row.snapshot, dict):
            snapshot, _encrypted, not_text = _secure_document(row.snapshot, paths)
            for path in not_text:
                text = json.dumps(schema_utils.get_path(snapshot, path), ensure_ascii=False)
                schema_utils.set_path(snapshot, path, schema_utils.encrypt_secret(path, text))
            if snapshot != row.snapshot:
                changes["snapshot"] = snapshot
        if changes:
            count += 1
            if not dry_run:
                ConfigHistory.objects.filter(pk=row.pk).update(**changes)
    return count


def _template_invalidate(template: ConfigTemplate, *, old_code: str | None = None) -> None:
    """Invalidate the template's cached defaults and its configs' cached values, under ``old_code`` too if renamed."""
    codes = {template.code, old_code or template.code}
    keys = [config_cache.template_key(code) for code in codes]
    for config in template.configs.all():
        keys.extend(config_cache.owner_key(user_id=config.user_id, shop_id=config.shop_id, template_code=code,
                                           key=config.key) for code in codes)
    config_cache.invalidate(*keys)


@transaction.atomic
def template_create(
    *, actor, code: str, name: str, schema: dict, defaults: dict | None = None, category: ConfigCategory | None = None,
    description: str = "", is_system: bool = False, is_active: bool = True,
) -> ConfigTemplate:
    defaults = defaults or {}
    schema_utils.check_template_schema(schema, defaults)
    template = ConfigTemplate(code=code, name=name, schema=schema, defaults=defaults, category=category,
                              description=description, is_system=is_system, is_active=is_active)
    template.stamp(actor)
    full_clean(template, error=ConfigValidationError)
    template.save()
    _template_invalidate(template)
    return template


@transaction.atomic
def template_update(*, template: ConfigTemplate, actor, **fields) -> ConfigTemplate:
    """Change a template; a new schema or defaults bumps its version.

    Existing configs keep their values, except that a field that becomes
    secret is encrypted in every config of the template and in their history
    (masked in shown values, encrypted in snapshots), in this transaction.
    Raises ConfigValidationError for a bad schema, when a config holds a
    value that is not text at a field becoming secret, or when a system
    template would lose its code or its system mark.
    """
    schema, defaults = fields.get("schema", template.schema), fields.get("defaults", template.defaults)
    if "schema" in fields or "defaults" in fields:
        schema_utils.check_template_schema(schema, defaults)
        if schema != template.schema or defaults != template.defaults:
            template.version += 1
    if "code" in fields and fields["code"] != template.code and template.is_system:
        raise ConfigValidationError(_("A system template's code cannot change."))
    if template.is_system and "is_system" in fields and not fields["is_system"]:
        # The code reads system templates by their code (shop settings); unmarked,
        # one could be deleted and take every shop's settings with it.
        raise ConfigValidationError(_("A system template stays a system template."))
    gained = sorted(set(schema_utils.secret_paths(schema)) - set(template.secret_paths()))
    _secure_template_configs(template, gained, refuse_non_text=True)
    old_code = template.code
    for name, value in fields.items():
        setattr(template, name, value)
    template.stamp(actor)
    full_clean(template, error=ConfigValidationError)
    template.save()
    _template_invalidate(template, old_code=old_code)
    return template


@transaction.atomic
def template_delete(*, template: ConfigTemplate, actor) -> None:
    if template.is_system:
        raise ConfigError(_("System templates cannot be deleted."), code="config_template_system")
    if template.configs.exists():
        raise ConfigError(_("The template still has configs; delete them first."), code="config_template_in_use")
    _template_invalidate(template)
    template.delete()


# --- shop settings ----------------------------------------------------------------------


def _shop_settings_template() -> ConfigTemplate:
    template = ConfigTemplate.objects.filter(code=SHOP_SETTINGS_TEMPLATE).first()
    if template is None:
        raise ConfigNotFound(_("The shop settings template is missing; run the configs migrations."))
    return template


@transaction.atomic
def shop_settings_update(
    *,
    shop,
    actor,
    values: dict,
    reason: str = "",
    expected_version: int | None = None,
    ip: str | None = None,
    user_agent: str = "",
) -> UserConfig:
    """Change ``shop``'s settings: ``values`` are merged key by key onto the current ones.

    Nested objects merge too (``{"ocr_region": {"x": 5}}`` keeps y, w and h);
    lists and other values replace.

    Only a superadmin or an admin of ``shop`` may (ConfigPermissionDenied).
    The first change creates the shop's config (``expected_version`` None or 0).
    """
    if not shop_is_manageable(user=actor, shop=shop):
        raise ConfigPermissionDenied(_("Only an admin of %(shop)s may change its settings.") % {"shop": shop})
    if not isinstance(values, dict):
        raise ConfigValidationError(_("Shop settings must be a JSON object."))
    template = _shop_settings_template()
    config = (
        UserConfig.objects.select_for_update().select_related("template")
        .filter(shop=shop, template=template, key=SHOP_SETTINGS_KEY).first()
    )
    if config is None:
        if expected_version not in (None, 0):
            raise ConfigConflict(_("These shop settings were deleted or never saved; reload them."))
        return config_create(actor=actor, template=template, values=values, shop=shop, key=SHOP_SETTINGS_KEY,
                             display_name=str(shop), reason=reason, ip=ip, user_agent=user_agent)
    merged = schema_utils.deep_merge(config.values, values)
    return config_update(config=config, actor=actor, values=merged, expected_version=expected_version,
                         reason=reason, ip=ip, user_agent=user_agent)


# --- system configs -------------------------------------------------------------------------



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
    return _history_saved(SystemConfigHistory(
        system_config=config, key=config.key, actor=_person(actor), action=action, version=config.version,
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
        version=F("version") + 1, updated_at=timezone.now(), updated_by=_person(actor), **new
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



# --- key rotation -------------------------------------------------------------------------------


def _reencrypt_document(document: dict | None, paths: list[str], current: str) -> tuple[dict | None, int]:
    if not document:
        return document, 0
    changed = 0
    document = copy.deepcopy(document)
    for path in paths:
        stored = schema_utils.get_path(document, path)
        if crypto.is_ciphertext(stored) and crypto.key_id_of(stored) != current:
            plain = schema_utils.decrypt_secret(path, stored)
            schema_utils.set_path(document, path, schema_utils.encrypt_secret(path, plain))
            changed += 1
    return document, changed


def secrets_reencrypt(*, dry_run: bool = False) -> dict[str, int]:
    """Re-encrypt every config secret (values, history snapshots, system configs) under the current key.

    First, secrets still in clear (a field made secret before template changes
    encrypted existing values) are encrypted, and masked in history: counted
    as ``clear_secrets`` (configs and history rows).

    ``kefu.fields`` columns are rotated by ``rotate_encryption_key``; secrets
    inside JSON documents are not columns, so this does it for configs. It is
    not a change of value: no version, no history row; caches are
    invalidated. Raises DecryptionError (nothing written for that row) if a
    value is under a key that is no longer configured.
    """
    current = crypto.keyring().current_id
    counts = {"configs": 0, "history": 0, "system_configs": 0, "clear_secrets": 0}
    # Secrets left in clear by templates that gained a secret field before that encrypted existing values.
    for template in ConfigTemplate.objects.order_by("pk"):
        with transaction.atomic():
            found = _secure_template_configs(template, template.secret_paths(), refuse_non_text=False,
                                             dry_run=dry_run)
            if found and not dry_run:
                _template_invalidate(template)
        counts["clear_secrets"] += found
    for config in UserConfig.objects.select_related("template").exclude(encrypted_paths=[]).iterator():
        document, n = _reencrypt_document(config.values, config.encrypted_paths, current)
        if n:
            counts["configs"] += n
            if not dry_run:
                with transaction.atomic():
                    UserConfig.objects.filter(pk=config.pk, version=config.version).update(values=document)
                    config_cache.invalidate(config_cache.config_key(config))
    for row in ConfigHistory.objects.filter(snapshot__isnull=False).select_related("template").iterator():
        paths = row.template.secret_paths() if row.template_id else []
        document, n = _reencrypt_document(row.snapshot, paths, current)
        if n:
            counts["history"] += n
            if not dry_run:
                ConfigHistory.objects.filter(pk=row.pk).update(snapshot=document)
    for config in SystemConfig.objects.filter(is_encrypted=True).iterator():
        if crypto.is_ciphertext(config.value) and crypto.key_id_of(config.value) != current:
            counts["system_configs"] += 1
            if not dry_run:
                plain = crypto.decrypt(config.value, context=SYSTEM_CONTEXT)
                SystemConfig.objects.filter(pk=config.pk, value=config.value).update(
                    value=crypto.encrypt(plain, context=SYSTEM_CONTEXT))
                config_cache.invalidate(config_cache.system_key(config.key))
    for row in SystemConfigHistory.objects.filter(is_encrypted=True).exclude(snapshot="").iterator():
        if crypto.is_ciphertext(row.snapshot) and crypto.key_id_of(row.snapshot) != current:
            counts["history"] += 1
            if not dry_run:
                plain = crypto.decrypt(row.snapshot, context=SYSTEM_CONTEXT)
                SystemConfigHistory.objects.filter(pk=row.pk).update(
                    snapshot=crypto.encrypt(plain, context=SYSTEM_CONTEXT))
    return counts
