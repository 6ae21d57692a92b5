"""The outbox: every reply that is to reach a buyer, with its receipt."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from customer_service.shops.scoping import ShopScopedQuerySet
from kefu.fields import InputTextField
from kefu.models import TimestampedModel

from .states import StateMachine

__all__ = ["OUTBOX_STATES", "OutboxChannel", "OutgoingReply", "OutgoingState"]


class OutgoingState(models.TextChoices):
    QUEUED = "queued", _("queued")
    SENDING = "sending", _("sending")
    CONFIRMED = "confirmed", _("confirmed")
    UNKNOWN = "unknown", _("sent, not confirmed")
    REJECTED = "rejected", pgettext_lazy("outgoing reply", "rejected")
    CANCELLED = "cancelled", _("cancelled")


class OutboxChannel(models.TextChoices):
    DESKTOP = "desktop", _("desktop sender")
    API = "api", _("API sender")


O = OutgoingState  # noqa: E741
OUTBOX_STATES = StateMachine(
    _("The outgoing reply"),
    "state",
    {
        O.QUEUED: {O.SENDING, O.CANCELLED},
        # unknown is final: a reply that may have reached the buyer is never sent again on its own
        O.SENDING: {O.CONFIRMED, O.UNKNOWN, O.REJECTED},
    },
)


class OutgoingReplyQuerySet(ShopScopedQuerySet):
    def manageable_by(self, user):
        """Rows the user may claim, give a receipt for or cancel: every person working in the shop sends."""
        return self.for_user(user)


class OutgoingReply(TimestampedModel):
    """One reply on its way to a buyer: sent at most once, ever."""

    shop = models.ForeignKey(
        "customer_service.Shop", verbose_name=_("shop"), on_delete=models.CASCADE, related_name="outgoing_replies"
    )
    conversation = models.ForeignKey(
        "customer_service.Conversation", verbose_name=_("conversation"), on_delete=models.CASCADE,
        related_name="outgoing_replies",
    )
    message = models.ForeignKey(
        "customer_service.Message", verbose_name=_("message"), on_delete=models.CASCADE,
        related_name="outgoing_replies",
    )
    reply = models.OneToOneField(
        "customer_service.Reply", verbose_name=_("reply"), on_delete=models.CASCADE, related_name="outgoing",
    )
    text = models.TextField(_("text"), editable=False)
    state = models.CharField(
        _("state"), max_length=10, choices=OutgoingState.choices, default=OutgoingState.QUEUED, db_index=True
    )
    channel = models.CharField(_("channel"), max_length=8, choices=OutboxChannel.choices, blank=True)
    claimed_by = models.CharField(_("claimed by"), max_length=128, blank=True, editable=False)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    receipt_reason = InputTextField(_("receipt reason"), max_length=2000, blank=True)

    objects = OutgoingReplyQuerySet.as_manager()

    class Meta:
        verbose_name = _("outgoing reply")
        verbose_name_plural = _("outbox")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["shop", "state", "created_at"], name="cs_outbox_shop_state")]

    def __str__(self):
        return f"{self.conversation} · {self.get_state_display()} · {self.text[:40]}"
