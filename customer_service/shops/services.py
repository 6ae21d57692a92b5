"""Writes for shops and their members."""

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.services import user_create
from kefu.exceptions import KefuError, NotFound, PermissionDenied

from .choices import ShopRole
from .models import Shop, ShopMembership
from .selectors import shop_is_manageable, shop_member_candidates


@transaction.atomic
def shop_create(*, actor, name: str, qianniu_title: str = "", is_active: bool = True) -> Shop:
    shop = Shop(name=name, qianniu_title=qianniu_title, is_active=is_active)
    shop.stamp(actor)
    shop.full_clean()
    shop.save()
    return shop


@transaction.atomic
def shop_update(*, actor, shop: Shop, **fields) -> Shop:
    for name, value in fields.items():
        setattr(shop, name, value)
    shop.stamp(actor)
    shop.full_clean()
    shop.save()
    return shop


def _require_manager(*, actor, shop: Shop) -> None:
    if not shop_is_manageable(user=actor, shop=shop):
        raise PermissionDenied(_("Only an admin of this shop may change its members."))


@transaction.atomic
def shop_membership_set(*, actor, shop: Shop, user, role: str) -> ShopMembership:
    """Give ``user`` ``role`` in ``shop`` (creating or changing the membership).

    Raises: PermissionDenied when ``actor`` does not manage ``shop``, or when ``user`` is not among the
    people ``actor`` may add (selectors.shop_member_candidates: someone other than a superadmin
    adding a superadmin, or a person they do not already see).
    Side effect: the user gets the staff bit, so the admin lets them in.
    """
    _require_manager(actor=actor, shop=shop)
    if role not in ShopRole.values:
        raise KefuError(_("Unknown role '%(role)s'.") % {"role": role}, code="invalid_role")
    membership = ShopMembership.objects.filter(shop=shop, user=user).first()
    if membership is None:
        if not shop_member_candidates(actor=actor).filter(pk=user.pk).exists():
            raise PermissionDenied(_("You may add to a shop only people of your shops, or invite someone new."))
        membership = ShopMembership(shop=shop, user=user)
    membership.role = role
    membership.stamp(actor)
    membership.full_clean(validate_unique=False)
    membership.save()
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return membership


@transaction.atomic
def shop_member_invite(*, actor, shop: Shop, username: str, password: str | None = None, role: str,
                       **fields) -> ShopMembership:
    """Create a new person and give them ``role`` in ``shop``, in one transaction.

    How a shop admin brings someone in who is not yet in any of their shops: the new person
    belongs to this shop from the start, so nobody else's people are reached.
    Raises: ValidationError for a bad field, a username taken in any letter case or a weak
    password (accounts.services.user_create); KefuError for an unknown role; PermissionDenied when
    ``actor`` does not manage ``shop``.
    """
    _require_manager(actor=actor, shop=shop)
    if role not in ShopRole.values:
        raise KefuError(_("Unknown role '%(role)s'.") % {"role": role}, code="invalid_role")
    user = user_create(username=username, password=password, **fields)
    membership = ShopMembership(shop=shop, user=user, role=role)
    membership.stamp(actor)
    membership.full_clean(validate_unique=False)
    membership.save()
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return membership


@transaction.atomic
def shop_membership_remove(*, shop: Shop, user) -> None:
    deleted, _count = ShopMembership.objects.filter(shop=shop, user=user).delete()
    if not deleted:
        raise NotFound(_("%(user)s is not a member of %(shop)s.") % {"user": user, "shop": shop})
