"""Alerts: what went wrong (events), where people want to hear of it (channels), and each message sent (deliveries).

An event is raised and resolved by the services in ``customer_service.alerts.services``; while it is open,
raising it again only counts. Channels of a shop hear that shop's events, global channels (no shop) every
event. Each message to a channel is a delivery row, so a message that could not be sent stays visible.
"""

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from customer_service.shops.choices import ShopRole
from customer_service.shops.roles import shop_ids_for_user
from customer_service.shops.scoping import ShopScopedQuerySet
from kefu.fields import EncryptedTextField, InputCharField, InputTextField
from kefu.models import AuditedModel
from kefu.validators import validate_no_control_characters

__all__ = [
    "AlertChannel",
    "AlertChannelKind",
    "AlertDelivery",
    "AlertDeliveryStatus",
    "AlertEvent",
    "AlertKind",
    "AlertPhase",
]


class AlertKind(models.TextChoices):
    PROVIDERS_DOWN = "providers_down", _("Every AI provider failing")
    REVIEW_DEADLINE = "review_deadline", _("Review deadline missed")
    UNKNOWN_SEND = "unknown_send", _("Reply send unconfirmed")
    DESKTOP_PAUSED = "desktop_paused", _("Desktop side paused")
    REVIEW_BACKLOG = "review_backlog", _("Review backlog over the limit")
    # xgettext:no-python-format
    BUDGET_WARNING = "budget_warning", _("Budget 80 % spent")
    BUDGET_EXHAUSTED = "budget_exhausted", _("Budget exhausted")
    SAFETY_BLOCK = "safety_block", _("Reply blocked by the safety check")


class AlertChannelKind(models.TextChoices):
    EMAIL = "email", _("E-mail")
    WECOM = "wecom", _("WeCom robot")
    DINGTALK = "dingtalk", _("DingTalk robot")
    FEISHU = "feishu", _("Feishu robot")


class AlertPhase(models.TextChoices):
    RAISED = "raised", _("raised")
    RESOLVED = "resolved", _("resolved")
    TEST = "test", _("test")


class AlertDeliveryStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    SENDING = "sending", _("sending")
    RETRYING = "retrying", _("retrying")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")
    SUPPRESSED = "suppressed", _("suppressed (rate limit)")


class AlertScopedQuerySet(ShopScopedQuerySet):
    """Rows of a shop follow the shop's roles; global rows (no shop) are for superadmins."""


class AlertEvent(models.Model):
    """One problem of one kind in one shop (or global), from the first time it was seen until it was resolved.

    While open (``resolved_at`` empty) there is at most one event per (shop, kind, key): raising it again
    bumps ``count`` and ``last_seen``. ``raise_notified_at`` / ``resolve_notified_at`` record when the
    channels were given the "raised" and the "resolved" message, so each goes out once.
    """

    shop = models.ForeignKey(
        "customer_service.Shop",
        verbose_name=_("shop"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="alert_events",
        help_text=_("Empty for an event that concerns every shop."),
    )
    kind = models.CharField(_("kind"), max_length=32, choices=AlertKind.choices)
    key = models.CharField(
        _("key"), max_length=200, blank=True, default="",
        help_text=_("Tells apart events of one kind in one shop (a capability, a budget, a window)."),
    )
    title = InputCharField(_("title"), max_length=200)
    message = InputTextField(pgettext_lazy("alert text", "message"), blank=True, default="")
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    first_seen = models.DateTimeField(_("first seen"), default=timezone.now, db_index=True)
    last_seen = models.DateTimeField(_("last seen"), default=timezone.now)
    count = models.PositiveIntegerField(_("count"), default=1)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    raise_notified_at = models.DateTimeField(_("alert sent at"), null=True, blank=True)
    resolve_notified_at = models.DateTimeField(_("resolution sent at"), null=True, blank=True)

    objects = AlertScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-last_seen", "-pk"]
        constraints = [
            models.UniqueConstraint(
                Coalesce("shop", 0), "kind", "key",
                condition=Q(resolved_at__isnull=True),
                name="%(app_label)s_%(class)s_one_open_per_shop_kind_key",
            ),
        ]
        indexes = [
            models.Index(fields=["resolved_at", "resolve_notified_at"],
                         name="cs_alertevent_resolution_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.title}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class AlertChannelQuerySet(ShopScopedQuerySet):
    """Channels are settings: only the people who manage a shop see its channels, superadmins the global ones."""

    def visible_filter(self, user, shop_ids) -> Q:
        return Q(shop_id__in=shop_ids_for_user(user=user, roles=(ShopRole.ADMIN,)))

    def active(self):
        return self.filter(is_active=True)


class AlertChannel(AuditedModel):
    """Where a shop's (or, without a shop, every shop's) alerts are sent: an e-mail list or a group robot webhook.

    The webhook URL carries the robot's access token and the secret signs each call, so both are
    encrypted at rest and never shown. ``event_kinds`` empty means every kind.
    """

    shop = models.ForeignKey(
        "customer_service.Shop",
        verbose_name=_("shop"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="alert_channels",
        help_text=_("Empty for a global channel, which hears every shop's alerts."),
    )
    name = InputCharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=AlertChannelKind.choices)
    recipients = InputTextField(
        _("e-mail recipients"), blank=True, default="",
        help_text=_("E-mail addresses, separated by commas or new lines (e-mail channels)."),
    )
    webhook_url = EncryptedTextField(
        _("webhook URL"), blank=True, default="",
        help_text=_("The robot's webhook address, with its access token (robot channels). Stored encrypted."),
    )
    secret = EncryptedTextField(
        _("signing secret"), blank=True, default="",
        help_text=_("DingTalk's or Feishu's signing secret, when the robot has one. Stored encrypted."),
    )
    event_kinds = models.JSONField(
        _("alert kinds"), default=list, blank=True,
        help_text=_("The kinds of alert this channel receives; empty for every kind."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    last_sent_at = models.DateTimeField(_("last sent at"), null=True, blank=True, editable=False)
    last_failed_at = models.DateTimeField(_("last failed at"), null=True, blank=True, editable=False)
    last_error = models.TextField(_("last error"), blank=True, default="", editable=False)

    objects = AlertChannelQuerySet.as_manager()

    class Meta:
        verbose_name = _("alert channel")
        verbose_name_plural = _("alert channels")
        ordering = ["shop__name", "name"]

    def __str__(self):
        return self.name

    @property
    def webhook_url_masked(self) -> str:
        """Scheme and host only: the path and query hold the robot's access token."""
        if not self.webhook_url:
            return ""
        parts = urlsplit(self.webhook_url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…" if parts.netloc else "…"

    def clean(self):
        errors = {}
        if self.kind == AlertChannelKind.EMAIL:
            addresses = self.recipient_list()
            if not addresses:
                errors["recipients"] = _("An e-mail channel needs at least one address.")
            for address in addresses:
                try:
                    validate_email(address)
                except ValidationError:
                    errors["recipients"] = _("'%(address)s' is not an e-mail address.") % {"address": address}
                    break
        elif self.kind in AlertChannelKind.values:
            if not self.webhook_url:
                errors["webhook_url"] = _("A robot channel needs its webhook URL.")
            else:
                try:
                    URLValidator(schemes=["http", "https"])(self.webhook_url)
                    validate_no_control_characters(self.webhook_url)
                except ValidationError:
                    errors["webhook_url"] = _("Enter the robot's webhook URL (http or https).")
        if self.secret and self.kind not in (AlertChannelKind.DINGTALK, AlertChannelKind.FEISHU):
            errors["secret"] = _("Only DingTalk and Feishu robots sign their calls with a secret.")
        if self.secret:
            try:
                validate_no_control_characters(self.secret)
            except ValidationError as exc:
                errors["secret"] = exc.messages[0]
        kinds = self.event_kinds
        if not isinstance(kinds, list) or any(kind not in AlertKind.values for kind in kinds):
            errors["event_kinds"] = _("A list of alert kinds: %(kinds)s.") % {"kinds": ", ".join(AlertKind.values)}
        if errors:
            raise ValidationError(errors)
        if self.webhook_url and self.kind != AlertChannelKind.EMAIL:
            from customer_service.alerts.egress import validate_webhook_url

            validate_webhook_url(self)

    def wants(self, kind: str) -> bool:
        return not self.event_kinds or kind in self.event_kinds

    def recipient_list(self) -> list[str]:
        return [part.strip() for part in self.recipients.replace("\n", ",").replace(";", ",").split(",")
                if part.strip()]


class AlertDeliveryQuerySet(ShopScopedQuerySet):
    """Deliveries are seen by whoever sees their channel."""

    def visible_filter(self, user, shop_ids) -> Q:
        return Q(channel__in=AlertChannel.objects.for_user(user))

    def manageable_filter(self, user, admin_shop_ids) -> Q:
        return Q(channel__shop_id__in=admin_shop_ids)


class AlertDelivery(models.Model):
    """One message to one channel: an event's "raised" or "resolved" message, or a test message (no event)."""

    event = models.ForeignKey(
        AlertEvent, verbose_name=_("alert"), on_delete=models.CASCADE, null=True, blank=True,
        related_name="deliveries",
    )
    channel = models.ForeignKey(
        AlertChannel, verbose_name=_("channel"), on_delete=models.CASCADE, related_name="deliveries",
    )
    phase = models.CharField(_("phase"), max_length=16, choices=AlertPhase.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=AlertDeliveryStatus.choices, default=AlertDeliveryStatus.PENDING,
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    claimed_at = models.DateTimeField(_("attempt started at"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    objects = AlertDeliveryQuerySet.as_manager()

    class Meta:
        verbose_name = _("alert delivery")
        verbose_name_plural = _("alert deliveries")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "channel", "phase"],
                condition=Q(event__isnull=False),
                name="%(app_label)s_%(class)s_once_per_event_channel_phase",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="cs_alertdelivery_due_idx")]

    def __str__(self):
        return f"{self.channel} · {self.get_phase_display()} · {self.get_status_display()}"
