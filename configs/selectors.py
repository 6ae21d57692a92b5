"""Reads for configs. Values read by running code go through the cache (see configs.cache)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from kefu import crypto

from . import cache as config_cache
from . import schema as schema_utils
from .constants import DEFAULT_CONFIG_KEY, SHOP_SETTINGS_KEY, SHOP_SETTINGS_TEMPLATE
from .exceptions import ConfigNotFound, ConfigValidationError
from .models import ConfigHistory, ConfigTemplate, SystemConfig, UserConfig
from .values import SYSTEM_CONTEXT, system_config_plain, system_value_parse

_MISSING = object()


def config_list(*, user) -> QuerySet[UserConfig]:
    return UserConfig.objects.for_user(user).select_related("template", "user", "shop")


def config_masked_values(*, config: UserConfig) -> dict:
    """The config's values as anyone may see them: secrets masked."""
    return schema_utils.masked(config.values, config.secret_paths())


def config_history_list(*, config: UserConfig) -> QuerySet[ConfigHistory]:
    return ConfigHistory.objects.filter(config_ref=config.pk).select_related("actor").order_by("-version", "-pk")


def config_version_values(*, config: UserConfig, version: int) -> dict | None:
    """The masked values of ``version`` (the new values its history row recorded)."""
    row = config_history_list(config=config).filter(version=version).first()
    if row is None:
        raise ConfigNotFound(f"Config #{config.pk} has no version {version}.")
    return row.new_values if row.new_values is not None else row.old_values


def _flatten(document: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(document, dict) and document:
        flat: dict[str, Any] = {}
        for key, value in document.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix or "(root)": document}


def values_diff(old: dict | None, new: dict | None) -> list[dict]:
    """Changes between two (masked) documents, one row per leaf path: ``{path, change, old, new}``."""
    a, b = _flatten(old or {}), _flatten(new or {})
    rows = []
    for path in sorted(set(a) | set(b)):
        if path not in a:
            rows.append({"path": path, "change": "added", "old": None, "new": b[path]})
        elif path not in b:
            rows.append({"path": path, "change": "removed", "old": a[path], "new": None})
        elif a[path] != b[path]:
            rows.append({"path": path, "change": "changed", "old": a[path], "new": b[path]})
    return rows


def _secret_changed_rows(config: UserConfig, v1: int, v2: int) -> list[dict]:
    """Secrets whose ciphertext differs between two versions, though their masks may look the same."""
    snaps = dict(
        ConfigHistory.objects.filter(config_ref=config.pk, version__in=[v1, v2], snapshot__isnull=False)
        .values_list("version", "snapshot")
    )
    if len(snaps) < 2:
        return []
    rows = []
    for path in config.template.secret_paths():
        old, new = schema_utils.get_path(snaps[v1], path), schema_utils.get_path(snaps[v2], path)
        if old == new:
            continue
        # Different ciphertexts may hold the same secret (re-encrypted under a new key): compare in clear,
        # here only; the answer is the path, never a value.
        try:
            same = (schema_utils.decrypt_secret(path, old) if crypto.is_ciphertext(old) else old) == (
                schema_utils.decrypt_secret(path, new) if crypto.is_ciphertext(new) else new)
        except crypto.DecryptionError:
            same = False
        if not same:
            rows.append(path)
    return rows


def config_versions_diff(*, config: UserConfig, from_version: int, to_version: int) -> list[dict]:
    """A readable diff of two versions (masked). A changed secret shows as changed even if its mask is equal."""
    old = config_version_values(config=config, version=from_version)
    new = config_version_values(config=config, version=to_version)
    rows = values_diff(old, new)
    listed = {row["path"] for row in rows}
    for path in _secret_changed_rows(config, from_version, to_version):
        if path not in listed:
            mask = schema_utils.get_path(new or {}, path)
            rows.append({"path": path, "change": "changed", "old": mask, "new": mask})
    return sorted(rows, key=lambda r: r["path"])


# --- values for running code (cached) ------------------------------------------------------


def _filled(schema: dict, defaults: dict, stored: dict) -> dict:
    """Template defaults and schema defaults under ``stored``; no validation on reads (writes validated)."""
    return schema_utils.fill_defaults(schema, schema_utils.deep_merge(defaults, stored), strict=False)


def _template_defaults(code: str) -> dict | None:
    """The filled defaults of template ``code`` (what a never-saved config reads); cached."""

    def load():
        template = ConfigTemplate.objects.filter(code=code).values("schema", "defaults").first()
        if template is None:
            return None
        return {"values": _filled(template["schema"], template["defaults"], {})}

    entry = config_cache.read_through(config_cache.template_key(code), load)
    return None if entry is None else entry["values"]


# Cached like a config: most shops never save most templates (their defaults apply), and the pipeline reads
# them for every line. Creating the config invalidates its key as any write does.
_NO_CONFIG: dict = {}


def _config_entry(*, user_id: int | None, shop_id: int | None, template_code: str, key: str) -> dict | None:
    """The stored config, defaults filled at load time; cached until a write to it or to its template."""

    def load():
        config = (
            UserConfig.objects.filter(template__code=template_code, key=key, user_id=user_id, shop_id=shop_id)
            .values("pk", "version", "values", "encrypted_paths", "is_active", "expires_at", "template__schema",
                    "template__defaults")
            .first()
        )
        if config is None:
            return _NO_CONFIG
        # Stored form: secrets stay ciphertext inside the cache too. The expiry is checked at each read
        # (a timestamp): the entry outlives it until the beat task deactivates the config.
        expires_at = config["expires_at"]
        return {"id": config["pk"], "version": config["version"],
                "values": _filled(config["template__schema"], config["template__defaults"], config["values"]),
                "encrypted_paths": config["encrypted_paths"], "is_active": config["is_active"],
                "expires_at": expires_at.timestamp() if expires_at else None}

    cache_key = config_cache.owner_key(user_id=user_id, shop_id=shop_id, template_code=template_code, key=key)
    entry = config_cache.read_through(cache_key, load)
    return None if entry == _NO_CONFIG else entry


def config_values_get(
    *, template_code: str, user=None, shop=None, key: str = DEFAULT_CONFIG_KEY, default: Any = _MISSING
) -> dict:
    """The active values of a user's or a shop's config, defaults filled in, secrets decrypted.

    For code that uses the values (the pipeline, the router), never for display.
    A missing, inactive or expired config returns ``default`` if given, else
    the template's defaults. Raises ConfigNotFound for an unknown template.
    """
    entry = _config_entry(user_id=getattr(user, "pk", None), shop_id=getattr(shop, "pk", None),
                          template_code=template_code, key=key)
    if entry is not None and entry["is_active"] and (
            entry["expires_at"] is None or entry["expires_at"] > timezone.now().timestamp()):
        return schema_utils.decrypted(entry["values"], entry["encrypted_paths"])
    defaults = _template_defaults(template_code)
    if defaults is None:
        raise ConfigNotFound(f"No config template '{template_code}'.")
    # The cached defaults are shared by every read of this process: the caller gets its own copy.
    return schema_utils.json_copy(defaults) if default is _MISSING else default


def shop_settings_get(*, shop) -> dict:
    """``shop``'s settings with every default filled in: what the reply pipeline reads.

    Keys: ocr_region {x, y, w, h}, unread_threshold, auto_mode,
    auto_send_threshold, draft_threshold, reply_delay_seconds, business_hours
    {enabled, start, end, days}, buyer_blacklist, buyer_whitelist,
    keyword_blacklist, keyword_whitelist, forbidden_phrases. The shop's AI
    model is billing's shop model choice. Cached; a write is seen at once by
    every process.
    """
    return config_values_get(template_code=SHOP_SETTINGS_TEMPLATE, shop=shop, key=SHOP_SETTINGS_KEY)


def shop_settings_config(*, shop) -> UserConfig | None:
    """The shop's settings row (for history, rollback and the version to send back), if ever saved."""
    return (
        UserConfig.objects.select_related("template")
        .filter(shop=shop, template__code=SHOP_SETTINGS_TEMPLATE, key=SHOP_SETTINGS_KEY)
        .first()
    )


# --- system configs -------------------------------------------------------------------------


def system_config_list(*, user) -> QuerySet[SystemConfig]:
    return SystemConfig.objects.for_user(user)


def system_config_masked(*, config: SystemConfig) -> Any:
    """The typed value as shown to people: a secret is masked."""
    if config.is_encrypted:
        try:
            return crypto.mask_secret(system_config_plain(config))
        except crypto.DecryptionError:
            return "…****"
    return system_value_parse(config.value_type, config.value)


def system_config_value(key: str, default: Any = _MISSING) -> Any:
    """The Python value of system config ``key`` in its type (str, int, float, bool, JSON); cached.

    Raises ConfigNotFound if it is missing and no ``default`` is given.
    """
    entry = config_cache.read_through(
        config_cache.system_key(key),
        lambda: SystemConfig.objects.filter(key=key).values("value_type", "value", "is_encrypted").first()
        or {"missing": True},
    )
    if entry.get("missing"):
        if default is _MISSING:
            raise ConfigNotFound(f"No system config '{key}'.")
        return default
    text = entry["value"]
    if entry["is_encrypted"] and crypto.is_ciphertext(text):
        text = crypto.decrypt(text, context=SYSTEM_CONTEXT)
    try:
        return system_value_parse(entry["value_type"], text)
    except ConfigValidationError:
        if default is _MISSING:
            raise
        return default
