"""Writes for configs. Every config write validates, encrypts, versions and records history in one transaction.

Callers (admin, API, Celery, commands) pass ``actor`` and, when they have
them, ``reason``, ``ip`` and ``user_agent`` for the history row.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
from datetime import UTC, datetime, timedelta
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
from .choices import ConfigScope, HistoryAction, ValueType
from .constants import DEFAULT_CONFIG_KEY, SECRET_PLACEHOLDER, SHOP_SETTINGS_KEY, SHOP_SETTINGS_TEMPLATE
from .exceptions import (
    ConfigConflict,
    ConfigError,
    ConfigNotFound,
    ConfigPermissionDenied,
    ConfigValidationError,
)
from .models import ConfigCategory, ConfigHistory, ConfigTemplate, SystemConfig, SystemConfigHistory, UserConfig
from .rules import check_rules

logger = logging.getLogger(__name__)


def _person(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


# --- values: validation, secrets ------------------------------------------------


def _prepare_values(
    *, template: ConfigTemplate, values: Any, current: dict | None = None, current_paths: list[str] = (),
    fill: bool = True, allow_ciphertext: bool = False,
) -> tuple[dict, list[str]]:
    """Validate ``values`` against ``template`` and return (stored document, encrypted paths).

    1. A secret that is left out, sent empty, or sent back masked keeps the
       current ciphertext (the caller never saw the clear value). So does a
       path the config holds encrypted (``current_paths``) though the template
       no longer marks it secret: nobody saw that value either, and showing or
       dropping it on a masked round trip would reveal or destroy it. A new
       value typed there is stored as the template says: in clear.
    2. Template defaults, then schema defaults, fill what is missing; the schema
       and the template's rules validate the result.
    3. Each non-empty secret is encrypted; an unchanged one keeps its
       ciphertext, so history shows it as unchanged.
    """
    if not isinstance(values, dict):
        raise ConfigValidationError(
            _("Config values must be a JSON object."), detail=[{"path": "(root)", "message": "must be an object"}]
        )
    secrets = template.secret_paths()
    held = [path for path in current_paths or () if path not in secrets
            and crypto.is_ciphertext(schema_utils.get_path(current or {}, path))]
    guarded = sorted({*secrets, *held})
    plain = copy.deepcopy(values)
    kept: dict[str, str] = {}
    for path in guarded:
        stored = schema_utils.get_path(current or {}, path)
        incoming = schema_utils.get_path(plain, path)
        if incoming == "" or (incoming is None and schema_utils.has_path(plain, path)):
            # Forms send an untouched secret as empty: it means "no change", never "set it to empty".
            schema_utils.remove_path(plain, path)
        if crypto.is_ciphertext(stored) and (
            not schema_utils.has_path(plain, path)
            or incoming in (stored, schema_utils.mask_value(path, stored))
        ):
            schema_utils.set_path(plain, path, schema_utils.decrypt_secret(path, stored))
            kept[path] = stored
        elif crypto.is_ciphertext(incoming):
            if not allow_ciphertext:
                raise ConfigValidationError(
                    _("%(path)s: send the secret itself, not an encrypted value.") % {"path": path},
                    detail=[{"path": path, "message": "encrypted values cannot be set directly"}],
                )
            try:  # an import with --with-secrets: the key that wrote it must be one of ours
                schema_utils.set_path(plain, path, schema_utils.decrypt_secret(path, incoming))
            except crypto.DecryptionError as exc:
                raise ConfigValidationError(
                    _("%(path)s: cannot decrypt the imported secret: %(why)s") % {"path": path, "why": exc},
                    detail=[{"path": path, "message": str(exc)}],
                ) from None
            kept[path] = incoming
    if fill:
        document = schema_utils.fill_and_validate(
            schema=template.schema, values=plain, secrets=guarded, defaults=template.defaults
        )
    else:
        document = plain
        schema_utils.raise_for_errors(
            schema=template.schema, document=document, secrets=guarded,
            message=_("Those values no longer match the template (version %(v)s).") % {"v": template.version},
        )
    rule_errors = check_rules(template.code, document)
    if rule_errors:
        raise ConfigValidationError(rule_errors[0]["message"], detail=rule_errors)
    encrypted: list[str] = []
    for path in secrets:
        value = schema_utils.get_path(document, path)
        if isinstance(value, str) and value != "":
            schema_utils.set_path(document, path, kept.get(path) or schema_utils.encrypt_secret(path, value))
            encrypted.append(path)
    for path in held:
        if path in kept:
            schema_utils.set_path(document, path, kept[path])
            encrypted.append(path)
    return document, sorted(encrypted)


def config_values_validate(*, template: ConfigTemplate, values: Any, config: UserConfig | None = None) -> dict:
    """Check ``values`` as a write would, without writing; return the masked, filled document."""
    document, paths = _prepare_values(template=template, values=values, current=config.values if config else None,
                                      current_paths=config.encrypted_paths if config else ())
    return schema_utils.masked(document, paths)


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
    document, paths = _prepare_values(template=template, values=values or {}, allow_ciphertext=encrypted_secrets)
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
        fields["values"], fields["encrypted_paths"] = _prepare_values(
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
    _prepare_values(template=config.template, values=plain, fill=False)  # still valid under today's schema?
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


def system_value_parse(value_type: str, raw: Any) -> Any:
    """The Python value of ``raw`` (text, or already a Python value) as ``value_type``; ConfigValidationError if not."""
    def refuse(why: str):
        raise ConfigValidationError(
            _("Not a valid %(type)s value: %(why)s") % {"type": value_type, "why": why},
            detail=[{"path": "value", "message": why}],
        )

    if value_type == ValueType.STRING:
        if not isinstance(raw, str):
            refuse(_("expected text"))
        return raw
    if value_type == ValueType.BOOL:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"true", "1", "yes", "on"}:
            return True
        if text in {"false", "0", "no", "off"}:
            return False
        refuse(_("use true or false"))
    if value_type == ValueType.INT:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            refuse(_("expected a whole number"))
        try:
            return int(str(raw).strip()) if not isinstance(raw, float) else int(raw)
        except ValueError:
            refuse(_("expected a whole number"))
    if value_type == ValueType.FLOAT:
        if isinstance(raw, bool):
            refuse(_("expected a number"))
        try:
            number = float(str(raw).strip())
        except ValueError:
            refuse(_("expected a number"))
        if not math.isfinite(number):
            refuse(_("expected a finite number"))
        return number
    if value_type == ValueType.JSON:
        if isinstance(raw, str):
            try:
                return json.loads(raw)
            except ValueError as exc:
                refuse(_("invalid JSON (%(e)s)") % {"e": exc.msg})
        return raw
    refuse(_("unknown type '%(t)s'") % {"t": value_type})


def _system_text(value_type: str, value: Any, *, stored: str | None = None) -> str:
    """The stored text of a value being written; ConfigValidationError for a bad one.

    A control character is refused in a text other than ``stored`` (what the config holds
    now): a value saved before that rule must not block an edit of the description or flags.
    """
    parsed = system_value_parse(value_type, value)
    if value_type == ValueType.JSON:
        text = json.dumps(parsed, ensure_ascii=False, sort_keys=True)
    elif value_type == ValueType.BOOL:
        text = "true" if parsed else "false"
    else:
        text = str(parsed) if value_type != ValueType.FLOAT else repr(parsed)
    if text != stored:
        schema_utils.check_text(parsed, where="value")
    return text


SYSTEM_CONTEXT = "configs.systemconfig.value"


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
    text = _system_text(value_type, value)
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
    text = _system_text(value_type, fields.pop("value") if "value" in fields else stored, stored=stored)
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


def system_config_plain(config: SystemConfig) -> str:
    """The clear text of a system config's value (decrypted when encrypted)."""
    if config.is_encrypted and crypto.is_ciphertext(config.value):
        return crypto.decrypt(config.value, context=SYSTEM_CONTEXT)
    return config.value


# --- import -------------------------------------------------------------------------------------


class _ImportEntryError(Exception):
    """A malformed entry of an import file (becomes a ConfigValidationError naming it)."""


@contextlib.contextmanager
def _import_entry(label: str):
    """Name the file entry in any refusal raised while it is imported."""
    try:
        yield
    except ConfigError as exc:
        raise type(exc)(_("%(entry)s: %(why)s") % {"entry": label, "why": exc.message}, code=exc.code,
                        detail=exc.detail) from None
    except _ImportEntryError as exc:
        raise ConfigValidationError(_("%(entry)s: %(why)s") % {"entry": label, "why": exc},
                                    detail=[{"path": label, "message": str(exc)}]) from None


def _import_rows(data: dict, section: str) -> list[tuple[str, dict]]:
    """The entries of ``section`` as (label, row); each must be a JSON object."""
    rows = data.get(section, [])
    if not isinstance(rows, list):
        raise ConfigValidationError(_("%(section)s: must be a list.") % {"section": section})
    labelled = []
    for index, row in enumerate(rows):
        name = (row.get("code") or row.get("key") or row.get("template")) if isinstance(row, dict) else None
        label = f"{section}[{index}]" + (f" ({name})" if isinstance(name, str) and name else "")
        if not isinstance(row, dict):
            raise ConfigValidationError(_("%(entry)s: must be a JSON object.") % {"entry": label})
        labelled.append((label, row))
    return labelled


def _required(row: dict, name: str):
    if row.get(name) in (None, ""):
        raise _ImportEntryError(_("“%(field)s” is missing.") % {"field": name})
    return row[name]


def _import_datetime(value) -> datetime | None:
    """An ISO 8601 time from an import file; one without a UTC offset is read as UTC."""
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise _ImportEntryError(_("“%(value)s” is not an ISO 8601 date and time.") % {"value": value}) from None
    return moment.replace(tzinfo=UTC) if timezone.is_naive(moment) else moment


def configs_import(*, data: dict, actor, with_secrets: bool = False) -> dict[str, int]:
    """Create or update categories, templates, configs and system configs from a ``configs_export`` document.

    Each config write goes through config_create / config_update, so it is
    validated and recorded (reason "import"); an entry equal to what is here
    writes nothing. Secrets in the file are used only with ``with_secrets``,
    and only if one of our keys decrypts them (ConfigValidationError
    otherwise). Owners (users by username, shops by name) that do not exist
    here are skipped and counted. An ``expires_at`` without a UTC offset is
    read as UTC; a config whose expiry has passed arrives switched off. Runs in
    one transaction: any refusal (ConfigError, naming the file entry) imports
    nothing.
    """
    from django.contrib.auth import get_user_model

    from customer_service.shops.models import Shop

    from .selectors import EXPORT_FORMAT

    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise ConfigValidationError(_("Not a kefu configs export (format must be '%(f)s').") % {"f": EXPORT_FORMAT})
    use_secrets = with_secrets and bool(data.get("with_secrets"))
    counts = {"categories": 0, "templates": 0, "configs_created": 0, "configs_updated": 0, "configs_skipped": 0,
              "configs_unchanged": 0, "system_configs": 0, "secrets_skipped": 0}
    with transaction.atomic():
        categories = []
        for label, row in _import_rows(data, "categories"):
            with _import_entry(label):
                code = _required(row, "code")
                category = ConfigCategory.objects.filter(code=code).first() or ConfigCategory(code=code)
                for name in ("name", "description", "sort_order", "is_active"):
                    if name in row:
                        setattr(category, name, row[name])
                full_clean(category, error=ConfigValidationError, exclude=["parent"])
                category.save()
                categories.append((label, category, row.get("parent")))
                counts["categories"] += 1
        for label, category, parent in categories:
            if parent:
                with _import_entry(label):
                    category.parent = ConfigCategory.objects.filter(code=parent).first()
                    if category.parent is None:
                        raise _ImportEntryError(_("no parent category “%(code)s”.") % {"code": parent})
                    full_clean(category, error=ConfigValidationError)
                    category.save(update_fields=["parent"])

        for label, row in _import_rows(data, "templates"):
            with _import_entry(label):
                code = _required(row, "code")
                fields = {k: row[k] for k in ("name", "description", "schema", "defaults", "is_system", "is_active")
                          if k in row}
                fields["category"] = None
                if row.get("category"):
                    fields["category"] = ConfigCategory.objects.filter(code=row["category"]).first()
                    if fields["category"] is None:
                        raise _ImportEntryError(_("no category “%(code)s”.") % {"code": row["category"]})
                template = ConfigTemplate.objects.filter(code=code).first()
                if template is None:
                    _required(row, "name")
                    _required(row, "schema")
                    template_create(actor=actor, code=code, **fields)
                else:
                    template_update(template=template, actor=actor, **fields)
                counts["templates"] += 1

        users = get_user_model().objects
        for label, row in _import_rows(data, "configs"):
            with _import_entry(label):
                _import_config(row, actor=actor, users=users, shops=Shop.objects, use_secrets=use_secrets,
                               counts=counts)

        for label, row in _import_rows(data, "system_configs"):
            with _import_entry(label):
                _import_system_config(row, actor=actor, use_secrets=use_secrets, counts=counts)
    return counts


def _import_config(row: dict, *, actor, users, shops, use_secrets: bool, counts: dict) -> None:
    code = _required(row, "template")
    template = ConfigTemplate.objects.filter(code=code).first()
    if template is None:
        raise _ImportEntryError(_("no template “%(code)s”.") % {"code": code})
    owner = row.get("owner")
    if not isinstance(owner, dict) or not ({"user", "shop"} & set(owner)):
        raise _ImportEntryError(_("“owner” must be {\"user\": username} or {\"shop\": shop name}."))
    user = users.filter(username=owner["user"]).first() if "user" in owner else None
    shop = shops.filter(name=owner["shop"]).first() if "shop" in owner else None
    if user is None and shop is None:
        counts["configs_skipped"] += 1
        return
    values = row.get("values") or {}
    if not isinstance(values, dict):
        raise _ImportEntryError(_("“values” must be a JSON object."))
    if not use_secrets:
        values = _strip_ciphertext(values, template.secret_paths(), counts)
    key = row.get("key", DEFAULT_CONFIG_KEY)
    expires_at = _import_datetime(row.get("expires_at"))
    # A config whose expiry passed since the export arrives switched off (an active one could not be saved).
    active = bool(row.get("is_active", True)) and not (expires_at is not None and expires_at <= timezone.now())
    display_name, scope = row.get("display_name", ""), row.get("scope", ConfigScope.GLOBAL)
    common = {"actor": actor, "reason": _("import"), "encrypted_secrets": use_secrets}
    config = UserConfig.objects.select_related("template").filter(
        template=template, key=key, user=user, shop=shop).first()
    if config is None:
        config_create(template=template, user=user, shop=shop, key=key, display_name=display_name, values=values,
                      scope=scope, expires_at=expires_at, is_active=active, **common)
        counts["configs_created"] += 1
        return
    document, _paths = _prepare_values(template=template, values=values, current=config.values,
                                       current_paths=config.encrypted_paths, allow_ciphertext=use_secrets)
    if (document, display_name, scope, expires_at, active) == (
            config.values, config.display_name, config.scope, config.expires_at, config.is_active):
        counts["configs_unchanged"] += 1
        return
    if not active and config.is_active:  # first, so that an expiry in the past may follow
        config_set_active(config=config, actor=actor, active=False, reason=_("import"))
    if (document, display_name, scope, expires_at) != (config.values, config.display_name, config.scope,
                                                       config.expires_at):
        config_update(config=config, values=values, display_name=display_name, scope=scope, expires_at=expires_at,
                      **common)
    if active and not config.is_active:
        config_set_active(config=config, actor=actor, active=True, reason=_("import"))
    counts["configs_updated"] += 1


def _import_system_config(row: dict, *, actor, use_secrets: bool, counts: dict) -> None:
    key = _required(row, "key")
    value = row.get("value")
    if row.get("is_encrypted"):
        if not use_secrets or value is None:
            counts["secrets_skipped"] += 1
            if not SystemConfig.objects.filter(key=key).exists():
                return
            value = None
        else:
            try:
                value = crypto.decrypt(value, context=SYSTEM_CONTEXT)
            except crypto.DecryptionError as exc:
                raise ConfigValidationError(
                    _("System config '%(key)s': cannot decrypt the imported secret: %(why)s")
                    % {"key": key, "why": exc}) from None
    fields = {k: row[k] for k in ("value_type", "description", "is_public", "is_encrypted") if k in row}
    existing = SystemConfig.objects.filter(key=key).first()
    if existing is None:
        _required(row, "value_type")
        system_config_create(actor=actor, key=key, value=value, **fields)
    else:
        if value is not None:
            fields["value"] = value
        system_config_update(config=existing, actor=actor, **fields)
    counts["system_configs"] += 1


def _strip_ciphertext(values: dict, paths: list[str], counts: dict) -> dict:
    document = copy.deepcopy(values)
    for path in paths:
        if crypto.is_ciphertext(schema_utils.get_path(document, path)):
            schema_utils.remove_path(document, path)
            counts["secrets_skipped"] += 1
    return document


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
