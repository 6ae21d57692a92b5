"""The QuerySet base for rows that belong to shops."""

from django.db import models
from django.db.models import Q

from kefu.scoping import is_signed_in

from .choices import ShopRole
from .roles import shop_ids_for_user


class ShopScopedQuerySet(models.QuerySet):
    """Superadmins see and change every row; other people what their shops allow.

    Subclasses widen or narrow the two filters: ``visible_filter`` gets the ids of
    every shop the person belongs to, ``manageable_filter`` those they administer.
    """

    def visible_filter(self, user, shop_ids) -> Q:
        return Q(shop_id__in=shop_ids)

    def manageable_filter(self, user, admin_shop_ids) -> Q:
        return Q(shop_id__in=admin_shop_ids)

    def for_user(self, user):
        if not is_signed_in(user):
            return self.none()
        if user.is_superadmin:
            return self
        return self.filter(self.visible_filter(user, shop_ids_for_user(user=user)))

    def manageable_by(self, user):
        if not is_signed_in(user):
            return self.none()
        if user.is_superadmin:
            return self
        return self.filter(self.manageable_filter(user, shop_ids_for_user(user=user, roles=(ShopRole.ADMIN,))))
