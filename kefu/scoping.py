"""Building blocks for the ``for_user`` / ``manageable_by`` QuerySet methods every scoped model defines,
and the one seam through which the lower layers ask about a person's roles.

Roles come from shop memberships, which live above kefu and accounts (the shop layer of
``customer_service``). So that those two import no app above them, they ask an installed
:class:`Roles` instead; the shop layer installs its own when Django starts
(``customer_service.apps``), as Django's auth asks whatever backends the settings name.
"""

from django.db import models
from django.db.models import Q


def is_signed_in(user) -> bool:
    return bool(getattr(user, "is_authenticated", False))


def is_superadmin(user) -> bool:
    return is_signed_in(user) and bool(user.is_superadmin)


class Roles:
    """What a person's roles allow, as the lower layers need to know it. This base: nobody has a role."""

    def has_any(self, user) -> bool:
        """Whether ``user`` holds a role anywhere (the admin lets in staff who do)."""
        return False

    def colleagues(self, user) -> Q:
        """A filter on the user model: the people ``user`` works with, besides themselves."""
        return Q(pk__in=[])

    def summary(self, user) -> list[dict]:
        """``user``'s roles as shown to them (``/api/auth/me``, the login answer)."""
        return []


_roles = Roles()


def roles() -> Roles:
    return _roles


def roles_install(provider: Roles) -> None:
    """Make ``provider`` answer for roles (called once, from an AppConfig's ``ready()``)."""
    global _roles
    _roles = provider


class CatalogueQuerySet(models.QuerySet):
    """Reference rows (providers, models, prices, templates…): every signed-in person reads, superadmins change."""

    def for_user(self, user):
        return self if is_signed_in(user) else self.none()

    def manageable_by(self, user):
        return self if is_superadmin(user) else self.none()

    def assignable_by(self, user):
        """Rows the person may point their own rows at (a config's provider, a config's template)."""
        return self.for_user(user)
