"""Reads about shops and their members."""

from accounts.models import User
from kefu.scoping import is_signed_in

from .choices import ShopRole
from .models import Shop
from .roles import shop_ids_for_user, shop_roles


def shop_member_candidates(*, actor):
    """People ``actor`` may give a shop membership: for a superadmin every active person; for anyone
    else the active people they already see (themselves and the people of their shops), superadmins
    excluded.

    Anyone else would be pulled into the shop without a say and then shown to it (email,
    activity), and an answer that differed for them would tell which ids exist: callers answer
    for them exactly as for an id that does not exist. A superadmin needs no membership, and one
    would show them to the shop's people, who otherwise never see them. New people join a shop
    through ``shop_member_invite``.
    """
    if getattr(actor, "is_superadmin", False):
        return User.objects.filter(is_active=True)
    return User.objects.for_user(actor).filter(is_active=True, is_superadmin=False)


def shop_list(*, user):
    return Shop.objects.for_user(user)


def shop_is_manageable(*, user, shop: Shop | int) -> bool:
    """Whether ``user`` may change ``shop`` (its settings, members, knowledge): a superadmin, or its admin.

    Answered from the person's cached roles (customer_service.shops.roles), without a query once read.
    """
    if not is_signed_in(user):
        return False
    return bool(user.is_superadmin) or shop_roles(user).get(getattr(shop, "pk", shop)) == ShopRole.ADMIN


def is_shop_admin_anywhere(*, user) -> bool:
    return bool(shop_ids_for_user(user=user, roles=(ShopRole.ADMIN,)))


def shop_is_workable(*, user, shop: Shop | int) -> bool:
    """Whether ``user`` works in ``shop`` (answers its buyers, its review queue, its outbox): a superadmin,
    or any member of it (admin or agent). Answered from the cached roles, like ``shop_is_manageable``."""
    if not is_signed_in(user):
        return False
    return bool(user.is_superadmin) or getattr(shop, "pk", shop) in shop_roles(user)
