from django.db import models
from django.utils.translation import gettext_lazy as _


class ConfigScope(models.TextChoices):
    GLOBAL = "global", _("Global (no expiry)")
    SESSION = "session", _("Session (may expire)")
    TEMPORARY = "temporary", _("Temporary (expires)")


class HistoryAction(models.TextChoices):
    CREATE = "create", _("Created")
    UPDATE = "update", _("Updated")
    DELETE = "delete", _("Deleted")
    ACTIVATE = "activate", _("Activated")
    DEACTIVATE = "deactivate", _("Deactivated")
    ROLLBACK = "rollback", _("Rolled back")


class ValueType(models.TextChoices):
    STRING = "string", _("Text")
    INT = "int", _("Integer")
    FLOAT = "float", _("Decimal number")
    BOOL = "bool", _("Yes / no")
    JSON = "json", _("JSON")
