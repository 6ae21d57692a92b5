from django.db import models
from django.utils.translation import gettext_lazy as _


class ShopRole(models.TextChoices):
    ADMIN = "admin", _("Shop admin")
    AGENT = "agent", _("Agent")
