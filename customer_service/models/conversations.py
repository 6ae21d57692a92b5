"""Conversations with buyers and the messages in them."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from customer_service.shops.scoping import ShopScopedQuerySet
from kefu.fields import InputCharField, InputTextField
from kefu.models import TimestampedModel

from .states import StateMachine

__all__ = [
    "MESSAGE_STATES",
    "Conversation",
    "Message",
    "MessageDirection",
    "MessageSource",
    "MessageStatus",
]


class ConversationQuerySet(ShopScopedQuerySet):
    pass


class Conversation(TimestampedModel):
    """One buyer's chat with one shop."""

    shop = models.ForeignKey(
        "customer_service.Shop", verbose_name=_("shop"), on_delete=models.CASCADE, related_name="conversations"
    )
    buyer_id = InputCharField(_("buyer"), max_length=128, help_text=_("The buyer's nick as Qianniu shows it."))
    takeover_until = models.DateTimeField(
        _("human takeover until"), null=True, blank=True,
        help_text=_("A person answered this buyer: kefu sends nothing on its own until then."),
    )
    last_activity_at = models.DateTimeField(_("last activity"), default=timezone.now, db_index=True)
    away_sent_at = models.DateTimeField(_("away message sent"), null=True, blank=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = pgettext_lazy("conversation model", "conversations")
        ordering = ["-last_activity_at"]
        constraints = [
            models.UniqueConstraint(fields=["shop", "buyer_id"], name="%(app_label)s_%(class)s_one_per_buyer"),
        ]

    def __str__(self):
        return f"{self.shop} · {self.buyer_id}"

    def taken_over(self, at=None) -> bool:
        return self.takeover_until is not None and self.takeover_until > (at or timezone.now())


class MessageDirection(models.TextChoices):
    BUYER = "buyer", _("buyer")
    SELLER = "seller", _("seller")


class MessageSource(models.TextChoices):
    QIANNIU = "qianniu", _("Qianniu window")
    API = "api", _("API")
    IMPORT = "import", _("import")


class MessageStatus(models.TextChoices):
    NEW = "new", _("new")
    PROCESSING = "processing", _("processing")
    ANSWERED = "answered", _("answered")
    REVIEW = "review", _("in review")
    IGNORED = "ignored", _("ignored")
    FAILED = "failed", _("failed")


S = MessageStatus
MESSAGE_STATES = StateMachine(
    _("The message"),
    "status",
    {
        # processing → new: a late fragment of the burst, or a worker's lease that ran out, releases it
        S.NEW: {S.PROCESSING, S.IGNORED},
        S.PROCESSING: {S.NEW, S.ANSWERED, S.REVIEW, S.IGNORED, S.FAILED},
        # review → answered (approved) / ignored (rejected); review → processing when the burst grows
        S.REVIEW: {S.ANSWERED, S.IGNORED, S.PROCESSING},
        S.FAILED: {S.PROCESSING, S.REVIEW},
        # a reply that could not be confirmed goes back to a person
        S.ANSWERED: {S.REVIEW},
        S.IGNORED: {S.REVIEW},
    },
)


class MessageQuerySet(ShopScopedQuerySet):
    def buyer(self):
        return self.filter(direction=MessageDirection.BUYER)


class Message(TimestampedModel):
    """One line of a conversation, from the buyer or the seller's side."""

    shop = models.ForeignKey(
        "customer_service.Shop", verbose_name=_("shop"), on_delete=models.CASCADE, related_name="messages"
    )
    conversation = models.ForeignKey(
        Conversation, verbose_name=_("conversation"), on_delete=models.CASCADE, related_name="messages"
    )
    direction = models.CharField(
        _("direction"), max_length=8, choices=MessageDirection.choices, default=MessageDirection.BUYER
    )
    content = InputTextField(_("content"), max_length=4000)
    source = models.CharField(_("source"), max_length=8, choices=MessageSource.choices, default=MessageSource.API)
    external_id = InputCharField(
        _("external id"), max_length=191,
        help_text=_("The sender's id for this message: the same id again is the same message."),
    )
    status = models.CharField(
        _("status"), max_length=12, choices=MessageStatus.choices, default=MessageStatus.NEW, db_index=True
    )
    status_rule = models.CharField(
        _("deciding rule"), max_length=64, blank=True, editable=False,
        help_text=_("The rule that decided the last status."),
    )
    status_detail = models.TextField(_("status detail"), blank=True, editable=False)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True, help_text=_("When the buyer sent it."))
    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("handled by"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    burst_head = models.ForeignKey(
        "self", verbose_name=_("answered with"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="burst_fragments",
        help_text=_("The later line of the same burst whose reply answers this one too."),
    )
    lease_owner = models.CharField(_("lease owner"), max_length=64, blank=True, editable=False)
    lease_until = models.DateTimeField(_("lease until"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)

    objects = MessageQuerySet.as_manager()

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["shop", "external_id"], name="%(app_label)s_%(class)s_external_id_once"),
        ]
        indexes = [
            models.Index(fields=["conversation", "received_at"], name="cs_message_conv_received"),
            models.Index(fields=["shop", "received_at"], name="cs_message_shop_received"),
            models.Index(
                fields=["lease_until"], name="cs_message_processing_lease",
                condition=Q(status="processing"),
            ),
        ]

    def __str__(self):
        return f"{self.conversation} · {self.content[:40]}"
