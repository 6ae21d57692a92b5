"""Daily statistics: one row per shop and Asia/Shanghai day, rolled up from the pipeline's rows."""

from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _

from customer_service.shops.scoping import ShopScopedQuerySet

__all__ = ["DailyStatistics"]


class DailyStatisticsQuerySet(ShopScopedQuerySet):
    """The shops a person belongs to; figures are computed, so nobody edits them."""

    def manageable_by(self, user):
        return self.none()


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


class DailyStatistics(models.Model):
    """What one shop's customer service did on one local (Asia/Shanghai) day.

    Counts of buyer lines go by the moment the buyer sent the line (``sent_at``, else when kefu read
    it); review outcomes by the day of the message reviewed; unknown sends by when they were queued;
    AI cost by the usage records' day. Conversation rounds (a buyer's first line to the seller's first
    answer) go by the day they started. Rates are derived from the counts, never stored.
    """

    shop = models.ForeignKey(
        "customer_service.Shop", verbose_name=_("shop"), on_delete=models.CASCADE, related_name="daily_statistics"
    )
    day = models.DateField(_("day"))
    messages = models.PositiveIntegerField(_("buyer messages"), default=0)
    conversations = models.PositiveIntegerField(_("conversations"), default=0)
    auto_answered = models.PositiveIntegerField(
        _("auto-answered"), default=0, help_text=_("Buyer messages answered without a person's review.")
    )
    kb_hits = models.PositiveIntegerField(
        _("knowledge hits"), default=0, help_text=_("Buyer messages for which the knowledge base proposed an answer.")
    )
    ignored = models.PositiveIntegerField(_("ignored"), default=0)
    reviewed = models.PositiveIntegerField(_("reviewed"), default=0, help_text=_("Review items a person decided."))
    approved = models.PositiveIntegerField(_("approved unedited"), default=0)
    edited = models.PositiveIntegerField(_("edited"), default=0)
    rejected = models.PositiveIntegerField(_("rejected"), default=0)
    unknown_sends = models.PositiveIntegerField(_("unconfirmed sends"), default=0)
    rounds = models.PositiveIntegerField(
        _("conversation rounds"), default=0, help_text=_("A buyer's first line up to the seller's first answer.")
    )
    rounds_answered = models.PositiveIntegerField(_("rounds answered"), default=0)
    rounds_rated = models.PositiveIntegerField(
        _("rounds rated"), default=0, help_text=_("Rounds started between 08:00 and 24:00, which Qianniu rates.")
    )
    rounds_rated_in_3_minutes = models.PositiveIntegerField(_("rated rounds answered within 3 minutes"), default=0)
    first_reply_median_seconds = models.FloatField(_("median time to first reply (s)"), null=True, blank=True)
    first_reply_p95_seconds = models.FloatField(_("95th percentile time to first reply (s)"), null=True, blank=True)
    ai_cost = models.DecimalField(_("AI cost (CNY)"), max_digits=16, decimal_places=6, default=Decimal("0"))
    computed_at = models.DateTimeField(_("computed at"))

    objects = DailyStatisticsQuerySet.as_manager()

    class Meta:
        verbose_name = _("daily statistics")
        verbose_name_plural = _("daily statistics")
        ordering = ["-day", "shop_id"]
        constraints = [
            models.UniqueConstraint(fields=["shop", "day"], name="%(app_label)s_%(class)s_one_per_day"),
        ]
        indexes = [models.Index(fields=["day"], name="cs_daily_statistics_day")]

    def __str__(self):
        return f"{self.shop} · {self.day}"

    # Rates (None when there is nothing to divide by) --------------------------------------------

    @property
    def auto_answer_rate(self) -> float | None:
        return _share(self.auto_answered, self.messages)

    @property
    def kb_hit_rate(self) -> float | None:
        return _share(self.kb_hits, self.messages)

    @property
    def ai_accuracy(self) -> float | None:
        """Approved unedited / reviewed."""
        return _share(self.approved, self.reviewed)

    @property
    def response_rate_3_minutes(self) -> float | None:
        """Qianniu's 3-minute response rate: rated rounds answered within 3 minutes / rated rounds."""
        return _share(self.rounds_rated_in_3_minutes, self.rounds_rated)
