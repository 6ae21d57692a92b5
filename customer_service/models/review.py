"""The review queue: messages a person answers, approves or refuses."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from customer_service.shops.scoping import ShopScopedQuerySet
from kefu.fields import InputTextField
from kefu.models import TimestampedModel

from .states import StateMachine

__all__ = ["REVIEW_STATES", "ReviewItem", "ReviewStatus"]


class ReviewStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("review status", "pending")
    APPROVED = "approved", _("approved")
    EDITED = "edited", _("edited and approved")
    REJECTED = "rejected", _("rejected")
    EXPIRED = "expired", _("expired")


R = ReviewStatus
REVIEW_STATES = StateMachine(
    _("The review item"),
    "status",
    {R.PENDING: {R.APPROVED, R.EDITED, R.REJECTED, R.EXPIRED}},
)


class ReviewItemQuerySet(ShopScopedQuerySet):
    def manageable_by(self, user):
        """Everyone of the shop works its queue (agents decide items too)."""
        return self.for_user(user)

    def pending(self):
        return self.filter(status=ReviewStatus.PENDING)


class ReviewItem(TimestampedModel):
    """A buyer's message waiting for a person, with kefu's draft (if any) and why it is here."""

    shop = models.ForeignKey(
        "customer_service.Shop", verbose_name=_("shop"), on_delete=models.CASCADE, related_name="review_items"
    )
    message = models.ForeignKey(
        "customer_service.Message", verbose_name=_("message"), on_delete=models.CASCADE, related_name="review_items"
    )
    draft = models.ForeignKey(
        "customer_service.Reply", verbose_name=_("draft"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    reason = models.CharField(
        _("reason"), max_length=64, editable=False, help_text=_("The rule that sent it to review.")
    )
    reason_detail = models.TextField(_("reason detail"), blank=True, editable=False)
    status = models.CharField(
        _("status"), max_length=10, choices=ReviewStatus.choices, default=ReviewStatus.PENDING, db_index=True
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("assigned to"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    final_text = InputTextField(_("final text"), max_length=5000, blank=True)
    note = InputTextField(_("note"), max_length=2000, blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("reviewer"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    deadline_at = models.DateTimeField(_("deadline"), db_index=True)
    holding_sent_at = models.DateTimeField(_("holding reply sent"), null=True, blank=True)

    objects = ReviewItemQuerySet.as_manager()

    class Meta:
        verbose_name = _("review item")
        verbose_name_plural = _("review queue")
        ordering = ["deadline_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["message"], condition=Q(status="pending"), name="%(app_label)s_%(class)s_one_pending"
            ),
        ]
        indexes = [models.Index(fields=["shop", "status", "deadline_at"], name="cs_review_shop_queue")]

    def __str__(self):
        return f"{self.message} · {self.get_status_display()}"
