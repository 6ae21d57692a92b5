"""Replies (what kefu or a person proposes to send) and the shops' canned reply templates."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from customer_service.shops.scoping import ShopScopedQuerySet
from kefu.fields import InputCharField, InputTextField
from kefu.models import AuditedModel, TimestampedModel

__all__ = ["Reply", "ReplySource", "ReplyTemplate"]


class ReplySource(models.TextChoices):
    KB = "kb", _("knowledge base")
    AI = "ai", _("AI draft")
    HUMAN = "human", _("person")
    TEMPLATE = "template", _("reply template")


class ReplyQuerySet(ShopScopedQuerySet):
    def visible_filter(self, user, shop_ids) -> Q:
        return Q(message__shop_id__in=shop_ids)

    def manageable_filter(self, user, admin_shop_ids) -> Q:
        return Q(message__shop_id__in=admin_shop_ids)


class Reply(TimestampedModel):
    """A text proposed as the answer to a buyer's message, with where it came from and why."""

    message = models.ForeignKey(
        "customer_service.Message", verbose_name=_("message"), on_delete=models.CASCADE, related_name="replies"
    )
    source = models.CharField(_("source"), max_length=8, choices=ReplySource.choices)
    text = InputTextField(_("text"), max_length=5000)
    confidence = models.FloatField(_("confidence"), null=True, blank=True)
    knowledge_item = models.ForeignKey(
        "knowledge.KnowledgeItem", verbose_name=_("matched knowledge item"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="+",
    )
    matched_phrasing = models.CharField(_("matched phrasing"), max_length=500, blank=True, editable=False)
    rule = models.CharField(_("deciding rule"), max_length=64, blank=True, editable=False)
    reason = models.TextField(_("reason"), blank=True, editable=False)
    usage_records = models.ManyToManyField(
        "billing.UsageRecord", verbose_name=_("AI usage"), blank=True, related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )

    objects = ReplyQuerySet.as_manager()

    class Meta:
        verbose_name = _("reply")
        verbose_name_plural = _("replies")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.text[:60]


class ReplyTemplateQuerySet(ShopScopedQuerySet):
    """Everyone of a shop reads its templates and the shared ones; its admins change its own; superadmins
    change the shared ones."""

    def visible_filter(self, user, shop_ids) -> Q:
        return Q(shop__isnull=True) | Q(shop_id__in=shop_ids)

    def for_shop(self, shop):
        """The templates a shop may use: its own and the shared ones (its own win on the same code)."""
        return self.filter(Q(shop=shop) | Q(shop__isnull=True), is_active=True)


class ReplyTemplate(AuditedModel):
    """A canned reply a reviewer inserts by its short code (shared when it has no shop)."""

    shop = models.ForeignKey(
        "customer_service.Shop", verbose_name=_("shop"), on_delete=models.CASCADE, null=True, blank=True,
        related_name="reply_templates", help_text=_("Empty: shared by every shop."),
    )
    code = models.SlugField(_("code"), max_length=32, help_text=_("Short code typed to insert it, e.g. hello."))
    title = InputCharField(_("title"), max_length=100, blank=True)
    text = InputTextField(_("text"), max_length=2000)
    is_active = models.BooleanField(_("active"), default=True)

    objects = ReplyTemplateQuerySet.as_manager()

    class Meta:
        verbose_name = _("reply template")
        verbose_name_plural = _("reply templates")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["shop", "code"], name="%(app_label)s_%(class)s_code_per_shop"),
            models.UniqueConstraint(
                fields=["code"], condition=Q(shop__isnull=True), name="%(app_label)s_%(class)s_shared_code"
            ),
        ]

    def __str__(self):
        return self.code
