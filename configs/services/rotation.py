"""Re-encryption of the secrets inside config documents under the current key."""

from __future__ import annotations

import copy
from collections.abc import Callable

from django.db import transaction

from kefu import crypto

from .. import cache as config_cache
from .. import schema as schema_utils
from ..models import ConfigHistory, ConfigTemplate, SystemConfig, SystemConfigHistory, UserConfig
from ..values import SYSTEM_CONTEXT
from .templates import template_configs_secure, template_invalidate


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


def secrets_reencrypt(*, dry_run: bool = False, progress: Callable[..., None] | None = None) -> dict[str, int]:
    """Re-encrypt every config secret (values, history snapshots, system configs) under the current key.

    First, secrets still in clear (a field made secret before template changes
    encrypted existing values) are encrypted, and masked in history: counted
    as ``clear_secrets`` (configs and history rows).

    ``kefu.fields`` columns are rotated by ``rotate_encryption_key``; secrets
    inside JSON documents are not columns, so this does it for configs. It is
    not a change of value: no version, no history row; caches are
    invalidated. Raises DecryptionError (nothing written for that row) if a
    value is under a key that is no longer configured. ``progress(stage)`` is
    called for each row looked at (``kefu.progress.Progress.advance``).
    """
    current = crypto.keyring().current_id
    progress = progress or (lambda stage: None)
    counts = {"configs": 0, "history": 0, "system_configs": 0, "clear_secrets": 0}
    # Secrets left in clear by templates that gained a secret field before that encrypted existing values.
    for template in ConfigTemplate.objects.order_by("pk"):
        with transaction.atomic():
            found = template_configs_secure(template, template.secret_paths(), refuse_non_text=False,
                                             dry_run=dry_run)
            if found and not dry_run:
                template_invalidate(template)
        counts["clear_secrets"] += found
    for config in UserConfig.objects.select_related("template").exclude(encrypted_paths=[]).iterator():
        progress("configs")
        document, n = _reencrypt_document(config.values, config.encrypted_paths, current)
        if n:
            counts["configs"] += n
            if not dry_run:
                with transaction.atomic():
                    UserConfig.objects.filter(pk=config.pk, version=config.version).update(values=document)
                    config_cache.invalidate(config_cache.config_key(config))
    for row in ConfigHistory.objects.filter(snapshot__isnull=False).select_related("template").iterator():
        progress("history")
        paths = row.template.secret_paths() if row.template_id else []
        document, n = _reencrypt_document(row.snapshot, paths, current)
        if n:
            counts["history"] += n
            if not dry_run:
                ConfigHistory.objects.filter(pk=row.pk).update(snapshot=document)
    for config in SystemConfig.objects.filter(is_encrypted=True).iterator():
        progress("system configs")
        if crypto.is_ciphertext(config.value) and crypto.key_id_of(config.value) != current:
            counts["system_configs"] += 1
            if not dry_run:
                plain = crypto.decrypt(config.value, context=SYSTEM_CONTEXT)
                SystemConfig.objects.filter(pk=config.pk, value=config.value).update(
                    value=crypto.encrypt(plain, context=SYSTEM_CONTEXT))
                config_cache.invalidate(config_cache.system_key(config.key))
    for row in SystemConfigHistory.objects.filter(is_encrypted=True).exclude(snapshot="").iterator():
        progress("system config history")
        if crypto.is_ciphertext(row.snapshot) and crypto.key_id_of(row.snapshot) != current:
            counts["history"] += 1
            if not dry_run:
                plain = crypto.decrypt(row.snapshot, context=SYSTEM_CONTEXT)
                SystemConfigHistory.objects.filter(pk=row.pk).update(
                    snapshot=crypto.encrypt(plain, context=SYSTEM_CONTEXT))
    return counts
