"""Writes for shops and their members."""

from django.db import transaction
from django.utils.translation import gettext as _

from kefu.exceptions import KefuError, NotFound, PermissionDenied

from .choices import ShopRole
from .models import Shop, ShopMembership


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


@transaction.atomic
def shop_membership_set(*, actor, shop: Shop, user, role: str) -> ShopMembership:
    """Give ``user`` ``role`` in ``shop`` (creating or changing the membership).

    Raises: KefuError for an unknown role; PermissionDenied when someone other than a
    superadmin adds a superadmin (see selectors.shop_member_candidates).
    Side effect: the user gets the staff bit, so the admin lets them in.
    """
    if role not in ShopRole.values:
        raise KefuError(_("Unknown role '%(role)s'.") % {"role": role}, code="invalid_role")
    membership = ShopMembership.objects.filter(shop=shop, user=user).first()
    if membership is None:
        if user.is_superadmin and not getattr(actor, "is_superadmin", False):
            raise PermissionDenied(_("Only a superadmin can give a superadmin a shop membership."))
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
def shop_membership_remove(*, shop: Shop, user) -> None:
    deleted, _count = ShopMembership.objects.filter(shop=shop, user=user).delete()
    if not deleted:
        raise NotFound(_("%(user)s is not a member of %(shop)s.") % {"user": user, "shop": shop})
