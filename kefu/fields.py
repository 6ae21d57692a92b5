"""Model fields the apps share.

Text that people type (names, questions, notes, URLs) is held in ``InputCharField``,
``InputTextField`` or ``InputURLField``: they refuse C0 control characters on input, in
the admin, the API, imports and services alike (``validate_no_control_characters``).
Text the system records as it came (a request's user agent) is cleaned instead
(``kefu.validators.without_control_characters``).

Encrypted fields hold values encrypted at rest with AES-256-GCM. The database
column holds only ciphertext. Decryption is lazy, on attribute access, so the
error for a tampered value can name the row it came from.
"""

from __future__ import annotations

import json

from django.core import checks
from django.core.exceptions import FieldError
from django.db import models
from django.db.models.lookups import Exact

from . import crypto
from .validators import validate_no_control_characters


class _InputText:
    """Typed text: control characters are refused, naming their position and code point.

    Only validation differs from Django's field, so migrations record Django's field: a
    changed class path would make them rebuild whole tables on SQLite for no change in the column.
    """

    def deconstruct(self):
        name, _path, args, kwargs = super().deconstruct()
        django_field = next(c for c in type(self).__mro__ if c.__module__ == "django.db.models.fields")
        return name, f"django.db.models.{django_field.__name__}", args, kwargs


class InputCharField(_InputText, models.CharField):
    default_validators = [*models.CharField.default_validators, validate_no_control_characters]


class InputTextField(_InputText, models.TextField):
    default_validators = [*models.TextField.default_validators, validate_no_control_characters]


class InputURLField(_InputText, models.URLField):
    default_validators = [*models.URLField.default_validators, validate_no_control_characters]


class UndecryptableValue(Exception):
    """Raised on access to an encrypted attribute whose ciphertext cannot be read."""


class StoredCiphertext(str):
    """A ciphertext as stored: written back unchanged, decrypted only on access."""


class _EncryptedAttribute:
    def __init__(self, field: EncryptedFieldMixin):
        self.field = field

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        if self.field.attname not in instance.__dict__:
            # Deferred (``only()`` / ``defer()``): load it, as Django does for plain fields.
            if instance.pk is None:
                return None
            instance.refresh_from_db(fields=[self.field.attname])
        value = instance.__dict__.get(self.field.attname)
        if isinstance(value, StoredCiphertext):
            try:
                value = self.field.decode(crypto.decrypt(value, context=self.field.context))
            except crypto.DecryptionError as exc:
                raise UndecryptableValue(
                    f"{instance._meta.label} #{instance.pk}, field '{self.field.name}': "
                    f"cannot decrypt: {exc}."
                ) from None
            instance.__dict__[self.field.attname] = value
        return value

    def __set__(self, instance, value):
        instance.__dict__[self.field.attname] = value


class BlankOnlyExact(Exact):
    """``field=""`` or ``field=<a StoredCiphertext read from it>``: the equalities an encrypted
    column can answer (the second lets an update check that the row was not changed meanwhile)."""

    def get_prep_lookup(self):
        if self.rhs not in ("", None) and not isinstance(self.rhs, StoredCiphertext):
            raise FieldError(f"{self.lhs.target.name} is encrypted: it can be compared with blank only.")
        return super().get_prep_lookup()


class EncryptedFieldMixin:
    """Shared by the encrypted fields: the column is text, the attribute is clear."""

    def get_internal_type(self):
        return "TextField"

    def contribute_to_class(self, cls, name, *args, **kwargs):
        super().contribute_to_class(cls, name, *args, **kwargs)
        setattr(cls, self.attname, _EncryptedAttribute(self))

    @property
    def context(self) -> str:
        return f"{self.model._meta.label_lower}.{self.name}"

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return self.empty_value()
        return StoredCiphertext(value)

    def get_prep_value(self, value):
        if value is None:
            return None
        if isinstance(value, StoredCiphertext):
            return str(value)
        if self.is_empty(value):
            return ""
        return crypto.encrypt(self.encode(value), context=self.context)

    def value_to_string(self, obj):
        # Serialisation (dumpdata) keeps the ciphertext, never the secret.
        return self.get_prep_value(self.value_from_object(obj))

    def get_lookup(self, lookup_name):
        # Every encryption of a value differs, so comparing ciphertexts finds nothing:
        # refuse such queries instead of answering them wrongly. ``startswith`` stays for
        # the ciphertext's own prefix (which key wrote it), as key rotation asks.
        if lookup_name in ("isnull", "startswith"):
            return super().get_lookup(lookup_name)
        if lookup_name == "exact":
            return BlankOnlyExact
        return None

    def check(self, **kwargs):
        errors = super().check(**kwargs)
        if getattr(self, "db_index", False) or getattr(self, "_unique", False):
            errors.append(checks.Error("Encrypted fields cannot be indexed or unique.", obj=self, id="kefu.E001"))
        return errors


class EncryptedTextField(EncryptedFieldMixin, models.TextField):
    """Text encrypted at rest; blank is stored as an empty string."""

    def empty_value(self):
        return ""

    def is_empty(self, value):
        return value == ""

    def encode(self, value) -> str:
        return str(value)

    def decode(self, text: str):
        return text

    def to_python(self, value):
        if isinstance(value, StoredCiphertext) or value is None:
            return value
        return str(value)


class EncryptedJSONField(EncryptedFieldMixin, models.TextField):
    """A JSON document encrypted at rest as a whole."""

    def empty_value(self):
        return None

    def is_empty(self, value):
        return False

    def encode(self, value) -> str:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    def decode(self, text: str):
        return json.loads(text)

    def to_python(self, value):
        if isinstance(value, str) and not isinstance(value, StoredCiphertext):
            try:
                return json.loads(value)
            except ValueError:
                from django.core.exceptions import ValidationError

                raise ValidationError("Enter valid JSON.", code="invalid") from None
        return value

    def formfield(self, **kwargs):
        from django import forms

        return super(models.TextField, self).formfield(**{"form_class": forms.JSONField, **kwargs})


def encrypted_fields():
    """Every (model, field) pair in the project that stores an encrypted value."""
    from django.apps import apps

    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, EncryptedFieldMixin):
                yield model, field
