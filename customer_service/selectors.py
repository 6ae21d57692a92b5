from .choices import ShopRole
from .models import Shop, ShopMembership


def shop_ids_for_user(*, user, roles: tuple[str, ...] = (ShopRole.ADMIN, ShopRole.AGENT)) -> list[int]:
    """Ids of the shops where ``user`` holds one of ``roles``."""
    if not getattr(user, "is_authenticated", False):
        return []
    return list(ShopMembership.objects.filter(user=user, role__in=roles).values_list("shop_id", flat=True))


def shop_member_candidates(*, actor):
    """People ``actor`` may give a shop membership: active ones; superadmins only by a superadmin.

    A superadmin needs no membership, and one would show them (email, activity) to
    the shop's people, who otherwise never see them.
    """
    from accounts.models import User

    people = User.objects.filter(is_active=True)
    return people if getattr(actor, "is_superadmin", False) else people.filter(is_superadmin=False)


def shop_list(*, user):
    return Shop.objects.for_user(user)


def user_roles(*, user) -> list[dict]:
    """The user's shops and role in each, for /api/auth/me and the login answer."""
    rows = ShopMembership.objects.filter(user=user).select_related("shop").order_by("shop__name")
    return [{"shop_id": m.shop_id, "shop": m.shop.name, "role": m.role} for m in rows]


def is_shop_admin_anywhere(*, user) -> bool:
    return bool(shop_ids_for_user(user=user, roles=(ShopRole.ADMIN,)))
