"""Config values: a user config's values checked against its template, with its secrets encrypted;
a system config's value typed, as stored text and as clear text.

Below both the reads (configs.selectors) and the writes (configs.services, configs.transfer), which need them.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from django.utils.translation import gettext as _

from kefu import crypto

from . import schema as schema_utils
from .choices import ValueType
from .exceptions import ConfigValidationError
from .models import ConfigTemplate, SystemConfig, UserConfig
from .rules import check_rules


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


def system_value_text(value_type: str, value: Any, *, stored: str | None = None) -> str:
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


def system_config_plain(config: SystemConfig) -> str:
    """The clear text of a system config's value (decrypted when encrypted)."""
    if config.is_encrypted and crypto.is_ciphertext(config.value):
        return crypto.decrypt(config.value, context=SYSTEM_CONTEXT)
    return config.value


# --- user config values ---------------------------------------------------------------------


def config_values_prepare(
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
    document, paths = config_values_prepare(template=template, values=values, current=config.values if config else None,
                                      current_paths=config.encrypted_paths if config else ())
    return schema_utils.masked(document, paths)


def secure_document(document: Any, paths: list[str]) -> tuple[Any, list[str], list[str]]:
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
