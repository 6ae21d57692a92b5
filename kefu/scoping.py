"""Building blocks for the ``for_user`` / ``manageable_by`` QuerySet methods every scoped model defines."""

from django.db import models


def is_signed_in(user) -> bool:
    return bool(getattr(user, "is_authenticated", False))


def is_superadmin(user) -> bool:
    return is_signed_in(user) and bool(user.is_superadmin)


class CatalogueQuerySet(models.QuerySet):
    """Reference rows (providers, models, prices, templates…): every signed-in person reads, superadmins change."""

    def for_user(self, user):
        return self if is_signed_in(user) else self.none()

    def manageable_by(self, user):
        return self if is_superadmin(user) else self.none()

    def assignable_by(self, user):
        """Rows the person may point their own rows at (a config's provider, a config's template)."""
        return self.for_user(user)
