"""Writes of config templates: a field that becomes secret is encrypted in every config of the template
and in their history."""

from __future__ import annotations

import copy
import json

from django.db import transaction
from django.utils.translation import gettext as _

from kefu.exceptions import full_clean

from .. import cache as config_cache
from .. import schema as schema_utils
from ..exceptions import ConfigError, ConfigValidationError
from ..models import ConfigCategory, ConfigHistory, ConfigTemplate, UserConfig
from ..values import secure_document


def template_configs_secure(
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
        document, encrypted, not_text = secure_document(config.values, paths)
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
            snapshot, _encrypted, not_text = secure_document(row.snapshot, paths)
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


def template_invalidate(template: ConfigTemplate, *, old_code: str | None = None) -> None:
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
    template_invalidate(template)
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
    template_configs_secure(template, gained, refuse_non_text=True)
    old_code = template.code
    for name, value in fields.items():
        setattr(template, name, value)
    template.stamp(actor)
    full_clean(template, error=ConfigValidationError)
    template.save()
    template_invalidate(template, old_code=old_code)
    return template


@transaction.atomic
def template_delete(*, template: ConfigTemplate, actor) -> None:
    if template.is_system:
        raise ConfigError(_("System templates cannot be deleted."), code="config_template_system")
    if template.configs.exists():
        raise ConfigError(_("The template still has configs; delete them first."), code="config_template_in_use")
    template_invalidate(template)
    template.delete()
