from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from kefu.fields import InputCharField
from kefu.models import AllObjectsManager, AuditedModel, SoftDeleteManager, SoftDeleteModel, SoftDeleteQuerySet

from .choices import ShopRole


class ShopQuerySet(SoftDeleteQuerySet):
    def for_user(self, user):
        """Shops the user may see: all for a superadmin, else the shops they are a member of."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        if user.is_superadmin:
            return self
        return self.filter(memberships__user=user).distinct()

    def manageable_by(self, user):
        """Shops whose settings the user may change: a superadmin's all, a shop admin's own."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        if user.is_superadmin:
            return self
        return self.filter(memberships__user=user, memberships__role=ShopRole.ADMIN).distinct()


class Shop(AuditedModel, SoftDeleteModel):
    """A seller's shop, answered in its own Qianniu window.

    Deleting a shop hides it (``deleted_at``) with everything it owns, which a superadmin can
    restore; only a purge of a deleted shop removes it, and its knowledge, budgets and configs, for good.
    """

    name = InputCharField(_("name"), max_length=100, unique=True)
    qianniu_title = InputCharField(
        _("Qianniu window title"),
        max_length=200,
        blank=True,
        help_text=_("The title of the Qianniu chat window to read and answer for this shop."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="ShopMembership",
        through_fields=("shop", "user"),
        related_name="shops",
        verbose_name=_("members"),
    )

    objects = SoftDeleteManager.from_queryset(ShopQuerySet)()
    all_objects = AllObjectsManager.from_queryset(ShopQuerySet)()

    class Meta:
        verbose_name = _("shop")
        verbose_name_plural = _("shops")
        ordering = ["name"]
        base_manager_name = "all_objects"

    def __str__(self):
        return self.name

    def validate_unique(self, exclude=None):
        super().validate_unique(exclude)
        # Django checks uniqueness through the default manager, which hides deleted shops; the
        # database does not, and a deleted shop keeps its name until it is purged.
        if (exclude is None or "name" not in exclude) and self.name and Shop.all_objects.deleted().filter(
                name=self.name).exclude(pk=self.pk).exists():
            raise ValidationError({"name": _("A deleted shop has this name: restore it, or purge it first.")},
                                  code="unique")


class ShopMembershipQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(shop__in=Shop.objects.for_user(user))

    def manageable_by(self, user):
        return self.filter(shop__in=Shop.objects.manageable_by(user))


class ShopMembership(AuditedModel):
    """A person's role in one shop: admin (manages the shop) or agent (answers buyers)."""

    shop = models.ForeignKey(Shop, verbose_name=_("shop"), on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="shop_memberships"
    )
    role = models.CharField(_("role"), max_length=16, choices=ShopRole.choices, default=ShopRole.AGENT)

    objects = ShopMembershipQuerySet.as_manager()

    class Meta:
        verbose_name = _("shop membership")
        verbose_name_plural = _("shop memberships")
        ordering = ["shop__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["shop", "user"], name="%(app_label)s_%(class)s_one_role_per_shop"),
        ]

    def __str__(self):
        return f"{self.user} · {self.shop} · {self.get_role_display()}"
