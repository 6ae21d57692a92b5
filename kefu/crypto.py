"""AES-256-GCM encryption of secrets at rest.

A ciphertext reads ``enc1:<key id>:<base64 nonce + ciphertext + tag>``. The key
id travels with the value so several keys can decrypt while the first one in
``KEFU_ENCRYPTION_KEYS`` encrypts; `manage.py rotate_encryption_key` moves
every value to the first key, after which older keys can be removed.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

PREFIX = "enc1"
NONCE_BYTES = 12


class DecryptionError(Exception):
    """A stored value cannot be decrypted: tampered, truncated or under an unknown key."""


@dataclass(frozen=True)
class KeyRing:
    current_id: str
    keys: dict[str, bytes]


def generate_key_entry(key_id: str | None = None) -> str:
    """Return a new ``id:base64key`` entry for KEFU_ENCRYPTION_KEYS."""
    key_id = key_id or f"k{secrets.token_hex(3)}"
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def parse_keys(raw: str) -> KeyRing:
    """Parse ``id:base64key[,id:base64key…]``; raise ImproperlyConfigured on any fault."""
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for entry in filter(None, (part.strip() for part in (raw or "").split(","))):
        key_id, sep, encoded = entry.partition(":")
        if not sep or not key_id or ":" in encoded:
            raise ImproperlyConfigured(f"KEFU_ENCRYPTION_KEYS entry '{key_id or entry[:8]}' must read id:base64key.")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ImproperlyConfigured(f"KEFU_ENCRYPTION_KEYS key '{key_id}' is not valid base64.") from None
        if len(key) != 32:
            raise ImproperlyConfigured(
                f"KEFU_ENCRYPTION_KEYS key '{key_id}' must be 32 bytes (AES-256), not {len(key)}."
            )
        if key_id in keys:
            raise ImproperlyConfigured(f"KEFU_ENCRYPTION_KEYS names key '{key_id}' twice.")
        keys[key_id] = key
        order.append(key_id)
    if not order:
        raise ImproperlyConfigured("KEFU_ENCRYPTION_KEYS is empty: set at least one id:base64key entry.")
    return KeyRing(current_id=order[0], keys=keys)


@lru_cache(maxsize=8)
def _keyring_for(raw: str) -> KeyRing:
    return parse_keys(raw)


def keyring() -> KeyRing:
    return _keyring_for(settings.KEFU_ENCRYPTION_KEYS)


def is_ciphertext(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX + ":")


def key_id_of(ciphertext: str) -> str | None:
    if not is_ciphertext(ciphertext):
        return None
    return ciphertext.split(":", 2)[1]


def encrypt(plaintext: str, *, context: str) -> str:
    """Encrypt with the current key; ``context`` (table.column) is bound as associated data."""
    ring = keyring()
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(ring.keys[ring.current_id]).encrypt(nonce, plaintext.encode(), context.encode())
    return f"{PREFIX}:{ring.current_id}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt(ciphertext: str, *, context: str) -> str:
    """Decrypt a value written by :func:`encrypt`; raise DecryptionError with the reason."""
    if not is_ciphertext(ciphertext):
        raise DecryptionError("the stored value is not an encrypted value")
    try:
        _, key_id, encoded = ciphertext.split(":", 2)
    except ValueError:
        raise DecryptionError("the stored value is truncated") from None
    key = keyring().keys.get(key_id)
    if key is None:
        raise DecryptionError(f"it was encrypted with key '{key_id}', which KEFU_ENCRYPTION_KEYS does not hold")
    try:
        blob = base64.b64decode(encoded, validate=True)
        if len(blob) < NONCE_BYTES + 16:
            raise ValueError
        plain = AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context.encode())
    except (binascii.Error, ValueError, InvalidTag):
        raise DecryptionError(
            "the stored value was altered, is corrupt, or was written with another key that had the same id "
            "(authentication failed)"
        ) from None
    return plain.decode()


def mask_secret(secret: str | None) -> str:
    """``sk-abcdef…a1b2`` → ``sk-…a1b2``: enough to recognise a key, never to use it."""
    if not secret:
        return ""
    if len(secret) < 16:
        # Showing 7 of 10 characters would give a short password away.
        return "…" + "*" * 4
    head = secret[:3] if secret[:3].isascii() else ""
    return f"{head}…{secret[-4:]}"
