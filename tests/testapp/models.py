"""Models that exist only in the test suite, to exercise the cross-cutting bases."""

from django.db import models

from kefu.fields import EncryptedJSONField, EncryptedTextField
from kefu.models import AllObjectsManager, AuditedModel, SoftDeleteManager, SoftDeleteModel, SoftDeleteQuerySet


class VaultEntry(models.Model):
    """A row holding encrypted values."""

    name = models.CharField(max_length=50)
    secret = EncryptedTextField(blank=True)
    payload = EncryptedJSONField(null=True, blank=True)

    def __str__(self):
        return self.name


class NoteQuerySet(SoftDeleteQuerySet):
    def for_user(self, user):
        return self if getattr(user, "is_superadmin", False) else self.none()

    def manageable_by(self, user):
        return self.for_user(user)


class Note(SoftDeleteModel, AuditedModel):
    """A soft-deletable, audited row."""

    text = models.CharField(max_length=100)

    objects = SoftDeleteManager.from_queryset(NoteQuerySet)()
    all_objects = AllObjectsManager.from_queryset(NoteQuerySet)()

    class Meta(SoftDeleteModel.Meta):
        pass

    def __str__(self):
        return self.text
