"""A person's shop roles, read once per person object and kept on it.

Every request loads its own user object, so this is a per-request cache, as NetBox's
``restrict()`` reads the permission cache its backend keeps on the user
(netbox/utilities/querysets.py). Scoped querysets, the admin's sidebar and permission
checks all ask it, so a page costs one membership query instead of one per question.

A saved or deleted membership (through a service, the admin, a cascade) starts a new
generation, now and again when its transaction commits: a person object whose roles
were read before that reads them again, so a change in this process is seen at once.
"""

from django.db import transaction
from django.db.models import Q

from kefu.scoping import Roles, is_signed_in

from .choices import ShopRole
from .models import ShopMembership

_CACHE_ATTRIBUTE = "_kefu_shop_roles"
_generation = 0


def shop_roles(user) -> dict[int, str]:
    """``{shop_id: role}`` for every shop where ``user`` is a member (empty for anonymous).

    A deleted shop gives no role: its people no longer see it or anything it owns.
    """
    if not is_signed_in(user):
        return {}
    cached = getattr(user, _CACHE_ATTRIBUTE, None)
    if cached is not None and cached[0] == _generation:
        return cached[1]
    generation = _generation
    found = dict(ShopMembership.objects.filter(user=user, shop__deleted_at__isnull=True).values_list(
        "shop_id", "role"))
    setattr(user, _CACHE_ATTRIBUTE, (generation, found))
    return found


def shop_ids_for_user(*, user, roles: tuple[str, ...] = (ShopRole.ADMIN, ShopRole.AGENT)) -> list[int]:
    """Ids of the shops where ``user`` holds one of ``roles``."""
    return [shop_id for shop_id, role in shop_roles(user).items() if role in roles]


def _next_generation() -> None:
    global _generation
    _generation += 1


def roles_changed() -> None:
    """Make every person object read its roles again (now, and when the current transaction commits)."""
    _next_generation()
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(_next_generation)


def _membership_changed(sender, **kwargs):
    roles_changed()


def connect_signals() -> None:
    """Called in ready(): every membership write starts a new generation."""
    from django.db.models.signals import post_delete, post_save

    post_save.connect(_membership_changed, sender=ShopMembership, dispatch_uid="customer_service-roles-save")
    post_delete.connect(_membership_changed, sender=ShopMembership, dispatch_uid="customer_service-roles-delete")


class ShopRoles(Roles):
    """Roles as shop memberships give them (installed in ``customer_service.apps``)."""

    def has_any(self, user) -> bool:
        return bool(shop_roles(user))

    def colleagues(self, user) -> Q:
        return Q(shop_memberships__shop_id__in=list(shop_roles(user)))

    def summary(self, user) -> list[dict]:
        rows = ShopMembership.objects.filter(user=user, shop__deleted_at__isnull=True).select_related(
            "shop").order_by("shop__name")
        return [{"shop_id": m.shop_id, "shop": m.shop.name, "role": m.role} for m in rows]
