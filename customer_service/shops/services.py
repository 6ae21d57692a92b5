"""Writes for shops and their members."""

from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.services import user_create
from kefu.exceptions import Conflict, KefuError, NotFound, PermissionDenied
from kefu.scoping import is_superadmin

from .choices import ShopRole
from .models import Shop, ShopMembership
from .roles import roles_changed
from .selectors import shop_is_manageable, shop_member_candidates

SHOP_FIELDS = ("name", "qianniu_title", "is_active")


def _require_superadmin(actor, message: str) -> None:
    """Shops come and go by a superadmin's hand (``actor`` None: the system, e.g. ``bootstrap``)."""
    if actor is not None and not is_superadmin(actor):
        raise PermissionDenied(message)


@transaction.atomic
def shop_create(*, actor, name: str, qianniu_title: str = "", is_active: bool = True) -> Shop:
    """A new shop. Raises PermissionDenied (not a superadmin), ValidationError (a field, a name taken)."""
    _require_superadmin(actor, _("Only a superadmin may create shops."))
    shop = Shop(name=name, qianniu_title=qianniu_title, is_active=is_active)
    shop.stamp(actor)
    shop.full_clean()
    shop.save()
    return shop


@transaction.atomic
def shop_update(*, actor, shop: Shop, **fields) -> Shop:
    """Change ``fields`` (name, Qianniu window title, active) of a shop ``actor`` manages.

    Raises PermissionDenied, ValidationError; a field other than SHOP_FIELDS is a KefuError.
    """
    if not shop_is_manageable(user=actor, shop=shop):
        raise PermissionDenied(_("Only an admin of this shop may change it."))
    unknown = set(fields) - set(SHOP_FIELDS)
    if unknown:
        raise KefuError(_("A shop has no field %(f)s.") % {"f": ", ".join(sorted(unknown))}, code="invalid")
    for name, value in fields.items():
        setattr(shop, name, value)
    shop.stamp(actor)
    shop.full_clean()
    shop.save()
    return shop


@transaction.atomic
def shop_delete(*, actor, shop: Shop) -> Shop:
    """Delete a shop the way it can be undone: hidden, with its members' roles in it, its knowledge,
    budgets and configs, until ``shop_restore``; ``shop_purge`` then removes it for good.

    Raises PermissionDenied (not a superadmin), Conflict (already deleted).
    """
    _require_superadmin(actor, _("Only a superadmin may delete shops."))
    now = timezone.now()
    if Shop.all_objects.filter(pk=shop.pk, deleted_at__isnull=True).update(deleted_at=now, updated_at=now) != 1:
        raise Conflict(_("%(shop)s is already deleted.") % {"shop": shop}, code="shop_deleted")
    shop.deleted_at, shop.updated_at = now, now
    roles_changed()
    return shop


@transaction.atomic
def shop_restore(*, actor, shop: Shop) -> Shop:
    """Bring a deleted shop back as it was. Raises PermissionDenied, Conflict (not deleted)."""
    _require_superadmin(actor, _("Only a superadmin may restore shops."))
    now = timezone.now()
    if Shop.all_objects.filter(pk=shop.pk, deleted_at__isnull=False).update(deleted_at=None, updated_at=now) != 1:
        raise Conflict(_("%(shop)s is not deleted.") % {"shop": shop}, code="shop_not_deleted")
    shop.deleted_at, shop.updated_at = None, now
    roles_changed()
    return shop


@transaction.atomic
def shop_purge(*, actor, shop: Shop, confirm_name: str) -> dict[str, int]:
    """Remove a deleted shop for good, with everything it owns (memberships, knowledge, budgets,
    configs…). ``confirm_name`` must be the shop's name: the caller asked the person to type it or
    showed them what goes.

    Returns ``{model label: rows deleted}``. Raises PermissionDenied; Conflict when the shop is not
    deleted first (``shop_delete``), or when a row that must outlive it still points at it;
    KefuError ``shop_purge_unconfirmed`` when ``confirm_name`` differs.
    """
    _require_superadmin(actor, _("Only a superadmin may purge shops."))
    shop = Shop.all_objects.select_for_update().filter(pk=shop.pk).first()
    if shop is None:
        raise NotFound(_("This shop no longer exists."))
    if shop.deleted_at is None:
        raise Conflict(_("Delete %(shop)s first; only a deleted shop can be purged.") % {"shop": shop},
                       code="shop_not_deleted")
    if confirm_name != shop.name:
        raise KefuError(_("Type the shop's name, %(shop)s, to purge it.") % {"shop": shop},
                        code="shop_purge_unconfirmed")
    try:
        _total, counts = shop.hard_delete()
    except ProtectedError as exc:
        kinds = sorted({str(row._meta.verbose_name_plural) for row in exc.protected_objects})
        raise Conflict(_("%(shop)s cannot be purged while these still point at it: %(kinds)s.")
                       % {"shop": shop, "kinds": ", ".join(kinds)}, code="shop_in_use") from None
    roles_changed()
    return counts


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
def shop_membership_remove(*, actor, shop: Shop, user) -> None:
    """End ``user``'s role in ``shop``. Raises PermissionDenied (``actor`` does not manage it), NotFound."""
    _require_manager(actor=actor, shop=shop)
    deleted, _count = ShopMembership.objects.filter(shop=shop, user=user).delete()
    if not deleted:
        raise NotFound(_("%(user)s is not a member of %(shop)s.") % {"user": user, "shop": shop})
