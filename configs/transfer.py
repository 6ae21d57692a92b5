"""Export and import of everything configs holds (categories, templates, configs, system configs).

The top of configs: an import writes through the services, so each config write is validated,
versioned and recorded like any other.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customer_service.shops.models import Shop
from kefu import crypto, transfer
from kefu.exceptions import full_clean
from kefu.transfer import ImportReport

from . import schema as schema_utils
from .choices import ConfigScope
from .constants import DEFAULT_CONFIG_KEY
from .exceptions import ConfigValidationError
from .models import ConfigCategory, ConfigTemplate, SystemConfig, UserConfig
from .services import (
    config_create,
    config_set_active,
    config_update,
    system_config_create,
    system_config_update,
    template_create,
    template_update,
)
from .values import SYSTEM_CONTEXT, config_values_prepare

EXPORT_FORMAT = "kefu-configs"


EXPORT_VERSION = 1


def _without_secrets(values: dict, paths: list[str]) -> dict:
    document = copy.deepcopy(values)
    for path in paths:
        schema_utils.remove_path(document, path)
    return document


def configs_export(*, with_secrets: bool = False, template_codes: list[str] | None = None) -> dict:
    """Everything configs holds, as a JSON-ready document for ``config_import``.

    Secrets are left out, or with ``with_secrets`` kept as ciphertext (never
    clear): importing them needs one of the keys that wrote them.
    """
    templates = ConfigTemplate.objects.select_related("category").order_by("code")
    configs = UserConfig.objects.select_related("template", "user", "shop").order_by("template__code", "pk")
    if template_codes:
        templates = templates.filter(code__in=template_codes)
        configs = configs.filter(template__code__in=template_codes)
    document = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "with_secrets": with_secrets,
        "key_id": crypto.keyring().current_id if with_secrets else None,
        "categories": [
            {"code": c.code, "name": c.name, "parent": c.parent.code if c.parent_id else None,
             "description": c.description, "sort_order": c.sort_order, "is_active": c.is_active}
            for c in ConfigCategory.objects.select_related("parent").order_by("sort_order", "code")
        ],
        "templates": [
            {"code": t.code, "name": t.name, "category": t.category.code if t.category_id else None,
             "description": t.description, "schema": t.schema, "defaults": t.defaults, "is_system": t.is_system,
             "is_active": t.is_active, "version": t.version}
            for t in templates
        ],
        "configs": [
            {"template": c.template.code,
             "owner": {"shop": c.shop.name} if c.shop_id else {"user": c.user.username},
             "key": c.key, "display_name": c.display_name, "scope": c.scope,
             "expires_at": c.expires_at.isoformat() if c.expires_at else None, "is_active": c.is_active,
             "version": c.version,
             "values": c.values if with_secrets else _without_secrets(c.values, c.secret_paths()),
             "encrypted_paths": c.encrypted_paths if with_secrets else []}
            for c in configs
        ],
        "system_configs": [
            {"key": s.key, "value_type": s.value_type, "description": s.description, "is_public": s.is_public,
             "is_encrypted": s.is_encrypted, "value": s.value if (with_secrets or not s.is_encrypted) else None}
            for s in SystemConfig.objects.order_by("key")
        ],
    }
    return document


def _import_datetime(value) -> datetime | None:
    """An ISO 8601 time from an import file; one without a UTC offset is read as UTC."""
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ConfigValidationError(_("“%(value)s” is not an ISO 8601 date and time.") % {"value": value},
                                    detail=[{"path": "expires_at", "message": str(value)}]) from None
    return moment.replace(tzinfo=UTC) if timezone.is_naive(moment) else moment


def configs_import(*, data: bytes | str | dict, actor, with_secrets: bool = False) -> ImportReport:
    """Create or update categories, templates, configs and system configs from a ``configs_export`` document.

    Each config write goes through config_create / config_update, so it is
    validated and recorded (reason "import"); an entry equal to what is here
    writes nothing. Secrets in the file are used only with ``with_secrets``,
    and only if one of our keys decrypts them. Owners (users by username, shops
    by name) that do not exist here are skipped and counted. An ``expires_at``
    without a UTC offset is read as UTC; a config whose expiry has passed
    arrives switched off. Every entry is checked; the report counts what each
    section created, updated, skipped or left unchanged. Runs in one
    transaction: a ConfigValidationError naming every bad entry (``detail``)
    imports nothing.
    """
    document = transfer.read_document(data, format_name=EXPORT_FORMAT, error=ConfigValidationError,
                                      code="config_invalid")
    use_secrets = with_secrets and bool(document.get("with_secrets"))
    report = ImportReport()

    def entries(section):
        return transfer.document_entries(document, section, error=ConfigValidationError, code="config_invalid")

    with transaction.atomic():
        categories = []
        for label, row in entries("categories"):
            with report.entry(label):
                code = transfer.required(row, "code")
                category = ConfigCategory.objects.filter(code=code).first() or ConfigCategory(code=code)
                created = category.pk is None
                for name in ("name", "description", "sort_order", "is_active"):
                    if name in row:
                        setattr(category, name, row[name])
                full_clean(category, error=ConfigValidationError, exclude=["parent"])
                category.save()
                categories.append((label, category, row.get("parent")))
                report.record("created" if created else "updated", "categories")
        for label, category, parent in categories:
            if parent:
                with report.entry(label):
                    category.parent = ConfigCategory.objects.filter(code=parent).first()
                    if category.parent is None:
                        raise ConfigValidationError(_("no parent category “%(code)s”.") % {"code": parent})
                    full_clean(category, error=ConfigValidationError)
                    category.save(update_fields=["parent"])

        for label, row in entries("templates"):
            with report.entry(label):
                code = transfer.required(row, "code")
                fields = {k: row[k] for k in ("name", "description", "schema", "defaults", "is_system", "is_active")
                          if k in row}
                fields["category"] = None
                if row.get("category"):
                    fields["category"] = ConfigCategory.objects.filter(code=row["category"]).first()
                    if fields["category"] is None:
                        raise ConfigValidationError(_("no category “%(code)s”.") % {"code": row["category"]})
                template = ConfigTemplate.objects.filter(code=code).first()
                if template is None:
                    transfer.required(row, "name")
                    transfer.required(row, "schema")
                    template_create(actor=actor, code=code, **fields)
                    report.record("created", "templates")
                else:
                    template_update(template=template, actor=actor, **fields)
                    report.record("updated", "templates")

        users = get_user_model().objects
        for label, row in entries("configs"):
            with report.entry(label):
                report.record(_import_config(row, actor=actor, users=users, shops=Shop.objects,
                                             use_secrets=use_secrets, report=report), "configs")

        for label, row in entries("system_configs"):
            with report.entry(label):
                outcome = _import_system_config(row, actor=actor, use_secrets=use_secrets, report=report)
                if outcome:
                    report.record(outcome, "system_configs")
        report.refuse(ConfigValidationError, code="config_invalid")
    return report


def _import_config(row: dict, *, actor, users, shops, use_secrets: bool, report: ImportReport) -> str:
    """Write one config entry; returns what happened to it (created, updated, skipped, unchanged)."""
    code = transfer.required(row, "template")
    template = ConfigTemplate.objects.filter(code=code).first()
    if template is None:
        raise ConfigValidationError(_("no template “%(code)s”.") % {"code": code})
    owner = row.get("owner")
    if not isinstance(owner, dict) or not ({"user", "shop"} & set(owner)):
        raise ConfigValidationError(_("“owner” must be {\"user\": username} or {\"shop\": shop name}."),
                                    detail=[{"path": "owner", "message": "not an owner"}])
    user = users.filter(username=owner["user"]).first() if "user" in owner else None
    shop = shops.filter(name=owner["shop"]).first() if "shop" in owner else None
    if user is None and shop is None:
        return "skipped"
    values = row.get("values") or {}
    if not isinstance(values, dict):
        raise ConfigValidationError(_("“values” must be a JSON object."),
                                    detail=[{"path": "values", "message": "not an object"}])
    if not use_secrets:
        values = _strip_ciphertext(values, template.secret_paths(), report)
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
        return "created"
    document, _paths = config_values_prepare(template=template, values=values, current=config.values,
                                       current_paths=config.encrypted_paths, allow_ciphertext=use_secrets)
    if (document, display_name, scope, expires_at, active) == (
            config.values, config.display_name, config.scope, config.expires_at, config.is_active):
        return "unchanged"
    if not active and config.is_active:  # first, so that an expiry in the past may follow
        config_set_active(config=config, actor=actor, active=False, reason=_("import"))
    if (document, display_name, scope, expires_at) != (config.values, config.display_name, config.scope,
                                                       config.expires_at):
        config_update(config=config, values=values, display_name=display_name, scope=scope, expires_at=expires_at,
                      **common)
    if active and not config.is_active:
        config_set_active(config=config, actor=actor, active=True, reason=_("import"))
    return "updated"


def _import_system_config(row: dict, *, actor, use_secrets: bool, report: ImportReport) -> str | None:
    """Write one system config entry; returns what happened to it (None: a secret left out, nothing here)."""
    key = transfer.required(row, "key")
    value = row.get("value")
    if row.get("is_encrypted"):
        if not use_secrets or value is None:
            report.count("secrets_skipped")
            if not SystemConfig.objects.filter(key=key).exists():
                return None
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
        transfer.required(row, "value_type")
        system_config_create(actor=actor, key=key, value=value, **fields)
        return "created"
    if value is not None:
        fields["value"] = value
    system_config_update(config=existing, actor=actor, **fields)
    return "updated"


def _strip_ciphertext(values: dict, paths: list[str], report: ImportReport) -> dict:
    document = copy.deepcopy(values)
    for path in paths:
        if crypto.is_ciphertext(schema_utils.get_path(document, path)):
            schema_utils.remove_path(document, path)
            report.count("secrets_skipped")
    return document
