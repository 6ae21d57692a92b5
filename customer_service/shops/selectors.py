"""Reads about shops and their members."""

from accounts.models import User
from kefu.scoping import is_signed_in

from .choices import ShopRole
from .models import Shop
from .roles import shop_ids_for_user, shop_roles


def shop_member_candidates(*, actor):
    """People ``actor`` may give a shop membership: active ones; superadmins only by a superadmin.

    A superadmin needs no membership, and one would show them (email, activity) to
    the shop's people, who otherwise never see them.
    """
    people = User.objects.filter(is_active=True)
    return people if getattr(actor, "is_superadmin", False) else people.filter(is_superadmin=False)


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
