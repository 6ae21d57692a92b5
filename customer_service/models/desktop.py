"""The desktop side's records: what was seen in each conversation, pauses, jobs and debug captures."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from customer_service.shops.scoping import ShopScopedQuerySet
from kefu.fields import InputCharField, InputTextField

__all__ = [
    "CaptureKind",
    "CaptureRecord",
    "DesktopPause",
    "DesktopSeenLine",
    "JobKind",
    "JobRecord",
    "JobStatus",
]


class DesktopSeenLine(models.Model):
    """One line kefu has taken from a conversation in the Qianniu window, at its place in the conversation.

    The history the next poll aligns what is on screen against (``customer_service.desktop.dedupe``): a line
    is stored once, numbered by ``seq`` within (shop, conversation), so nothing is ingested twice across polls,
    scrolling or a worker restart, and a second identical line is still new.
    """

    shop = models.ForeignKey(
        "customer_service.Shop", verbose_name=_("shop"), on_delete=models.CASCADE, related_name="+"
    )
    conversation = models.CharField(_("buyer"), max_length=128, help_text=_("The buyer's nick as read."))
    seq = models.PositiveIntegerField(_("place in the conversation"))
    speaker = models.CharField(_("speaker"), max_length=8)
    text = models.TextField(_("text"))
    time = models.CharField(_("time shown"), max_length=8, blank=True)
    fingerprint = models.CharField(_("fingerprint"), max_length=32)
    external_id = models.CharField(_("external id"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("seen at"), default=timezone.now, db_index=True)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("seen line")
        verbose_name_plural = _("seen lines")
        ordering = ["shop", "conversation", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["shop", "conversation", "seq"], name="%(app_label)s_%(class)s_one_per_seq"),
        ]

    def __str__(self):
        return f"{self.conversation} #{self.seq} {self.speaker}: {self.text[:40]}"


class DesktopPauseQuerySet(ShopScopedQuerySet):
    def open(self):
        return self.filter(resumed_at__isnull=True)

    def visible_filter(self, user, shop_ids) -> Q:
        # A pause of every shop concerns everyone who works a shop.
        return Q(shop_id__in=shop_ids) | Q(shop__isnull=True)


class DesktopPause(models.Model):
    """Auto-sending through the Qianniu window stopped, for one shop or (no shop) for every shop.

    Drift (the window missing, moved off the screen, covered, unreadable, sends not confirmed) opens one on
    its own; a person can open one too. It stays until a person resumes: while it is open nothing is typed
    into that shop's window (queued replies wait), and the admin shows why.
    """

    shop = models.ForeignKey(
        "customer_service.Shop", verbose_name=_("shop"), on_delete=models.CASCADE, null=True, blank=True,
        related_name="+", help_text=_("Empty: every shop."),
    )
    reason = models.CharField(_("reason"), max_length=32)
    detail = InputTextField(_("detail"), max_length=2000, blank=True)
    paused_at = models.DateTimeField(_("paused at"), default=timezone.now)
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("paused by"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+", help_text=_("Empty: kefu paused on its own."),
    )
    resumed_at = models.DateTimeField(_("resumed at"), null=True, blank=True)
    resumed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("resumed by"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )

    objects = DesktopPauseQuerySet.as_manager()

    class Meta:
        verbose_name = _("desktop pause")
        verbose_name_plural = _("desktop pauses")
        ordering = ["-paused_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                Coalesce("shop", 0), condition=Q(resumed_at__isnull=True),
                name="%(app_label)s_%(class)s_one_open_per_shop",
            ),
        ]

    def __str__(self):
        return f"{self.shop or _('every shop')}: {self.reason}"

    @property
    def is_open(self) -> bool:
        return self.resumed_at is None


class JobKind(models.TextChoices):
    POLL = "poll", _("poll of the window")
    SEND = "send", _("reply typed into the window")
    CALIBRATE = "calibrate", _("calibration")


class JobStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("desktop job", "pending")
    PROCESSING = "processing", _("processing")
    COMPLETED = "completed", _("completed")
    FAILED = "failed", _("failed")


class JobRecord(models.Model):
    """One desktop job worth tracing: a poll that found something, a send, a calibration."""

    shop = models.ForeignKey(
        "customer_service.Shop", verbose_name=_("shop"), on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=JobKind.choices)
    status = models.CharField(_("status"), max_length=12, choices=JobStatus.choices, default=JobStatus.PENDING)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    outgoing = models.ForeignKey(
        "customer_service.OutgoingReply", verbose_name=_("outgoing reply"), on_delete=models.SET_NULL, null=True,
        blank=True, related_name="+",
    )
    started_at = models.DateTimeField(_("started"), default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    summary = models.CharField(_("summary"), max_length=300, blank=True)
    error = models.TextField(_("error"), blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True, help_text=_("Timings and counts."))

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("desktop job")
        verbose_name_plural = _("desktop jobs")
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["shop", "kind", "started_at"], name="cs_jobrecord_shop_kind")]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.get_status_display()} · {self.started_at:%Y-%m-%d %H:%M:%S}"


class CaptureKind(models.TextChoices):
    CALIBRATION = "calibration", _("calibration")
    READ = "read", _("read of a conversation")
    PAUSE = "pause", _("pause")
    SEND = "send", _("send not confirmed")


class CaptureRecord(models.Model):
    """A screenshot of the Qianniu window and what OCR read in it, kept for debugging until ``expires_at``;
    a beat task deletes the file and the row after that."""

    shop = models.ForeignKey(
        "customer_service.Shop", verbose_name=_("shop"), on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=CaptureKind.choices)
    job = models.ForeignKey(
        JobRecord, verbose_name=_("job"), on_delete=models.SET_NULL, null=True, blank=True, related_name="captures"
    )
    image = models.FileField(_("screenshot"), upload_to="desktop/captures/%Y/%m/%d/", blank=True, max_length=300)
    readings = models.JSONField(_("OCR output"), default=dict, blank=True)
    note = InputCharField(_("note"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("taken at"), default=timezone.now, db_index=True)
    expires_at = models.DateTimeField(_("expires at"), db_index=True)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("capture")
        verbose_name_plural = _("captures")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["shop", "kind", "created_at"], name="cs_capture_shop_kind")]

    def __str__(self):
        return f"{self.get_kind_display()} · {self.created_at:%Y-%m-%d %H:%M:%S}"
