"""What kefu learns from review: suggested knowledge-base changes, each waiting for a shop admin's decision."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from customer_service.shops.scoping import ShopScopedQuerySet
from kefu.fields import InputTextField

__all__ = ["KnowledgeSuggestion", "SuggestionKind", "SuggestionStatus"]


class SuggestionKind(models.TextChoices):
    NEW_ITEM = "new_item", _("new FAQ entry")
    SIMILAR_QUESTION = "similar_question", _("similar question of an entry")


class SuggestionStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("knowledge suggestion", "pending")
    ACCEPTED = "accepted", _("accepted")
    DISMISSED = "dismissed", _("dismissed")


class KnowledgeSuggestion(models.Model):
    """A change to the shop's knowledge base that review outcomes suggest: a new entry (the buyer's question,
    the answer a person gave) or the buyer's phrasing as a similar question of the entry a person chose.

    The same phrasing suggested again while pending is one suggestion with a higher ``count``
    (``phrasing_key`` is a digest of the normalised question).
    """

    shop = models.ForeignKey("customer_service.Shop", verbose_name=_("shop"), on_delete=models.CASCADE,
                             related_name="knowledge_suggestions")
    kind = models.CharField(_("kind"), max_length=20, choices=SuggestionKind.choices)
    question = InputTextField(_("question"), max_length=1000)
    answer = InputTextField(_("answer"), max_length=5000, blank=True, default="")
    knowledge_item = models.ForeignKey(
        "knowledge.KnowledgeItem", verbose_name=_("knowledge item"), on_delete=models.CASCADE, null=True,
        blank=True, related_name="+", help_text=_("The entry the phrasing would join (similar questions)."),
    )
    phrasing_key = models.CharField(_("phrasing key"), max_length=64, editable=False)
    count = models.PositiveIntegerField(_("count"), default=1)
    status = models.CharField(_("status"), max_length=10, choices=SuggestionStatus.choices,
                              default=SuggestionStatus.PENDING, db_index=True)
    review_item = models.ForeignKey(
        "customer_service.ReviewItem", verbose_name=_("latest review item"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="+",
    )
    created_item = models.ForeignKey(
        "knowledge.KnowledgeItem", verbose_name=_("created entry"), on_delete=models.SET_NULL, null=True,
        blank=True, related_name="+",
    )
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("decided by"),
                                   on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ShopScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("knowledge suggestion")
        verbose_name_plural = _("knowledge suggestions")
        ordering = ["-count", "-updated_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                "shop", "kind", "phrasing_key", Coalesce("knowledge_item", 0),
                condition=Q(status="pending"),
                name="%(app_label)s_%(class)s_one_pending_per_phrasing",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.question[:40]}"
