"""Knowledge base rows: FAQ items, their other phrasings, their vectors, and index stamps."""

import hashlib
import uuid

import numpy as np
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from customer_service.shops.scoping import ShopScopedQuerySet
from kefu.fields import InputCharField, InputTextField
from kefu.models import AllObjectsManager, AuditedModel, SoftDeleteManager, SoftDeleteModel, SoftDeleteQuerySet

from .choices import PhrasingKind

# An FAQ answer is a chat message; longer text is a mistake (and beyond what an Excel cell holds).
ANSWER_MAX_LENGTH = 20_000
# Every keyword and similar question is indexed: a few hundred phrasings per item would
# crowd out the other items of its shop and slow every search of it.
KEYWORD_MAX_LENGTH, KEYWORDS_MAX = 100, 50
SIMILAR_QUESTION_MAX_LENGTH, SIMILAR_QUESTIONS_MAX = 500, 100


def text_hash(text: str) -> str:
    """The hash stored next to a vector: a changed phrasing no longer matches it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class KnowledgeItemQuerySet(ShopScopedQuerySet, SoftDeleteQuerySet):
    """Items of the person's shops plus shared items; shared items are changed by superadmins only."""

    def visible_filter(self, user, shop_ids) -> Q:
        return Q(shop__isnull=True) | Q(shop_id__in=shop_ids)

    def for_shop(self, shop_id):
        """What a shop's search covers: its own items and the shared ones."""
        return self.filter(Q(shop_id=shop_id) | Q(shop__isnull=True))

    def searchable(self):
        return self.filter(is_active=True, deleted_at__isnull=True)


class KnowledgeItem(AuditedModel, SoftDeleteModel):
    """One FAQ entry: a question and its answer, owned by a shop or shared by all shops (``shop`` empty)."""

    shop = models.ForeignKey(
        "customer_service.Shop",
        verbose_name=_("shop"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="knowledge_items",
        help_text=_("Empty: shared by every shop."),
    )
    question = InputCharField(_("question"), max_length=500)
    answer = InputTextField(_("answer"), validators=[MaxLengthValidator(ANSWER_MAX_LENGTH)])
    category = InputCharField(_("category"), max_length=100, blank=True)
    keywords = models.JSONField(_("keywords"), default=list, blank=True)
    external_id = InputCharField(
        _("external id"),
        max_length=100,
        blank=True,
        help_text=_("The id the item has in an imported file; kept so an export imports back unchanged."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    objects = SoftDeleteManager.from_queryset(KnowledgeItemQuerySet)()
    all_objects = AllObjectsManager.from_queryset(KnowledgeItemQuerySet)()

    class Meta:
        verbose_name = _("knowledge item")
        verbose_name_plural = _("knowledge items")
        ordering = ["shop__name", "category", "question"]
        base_manager_name = "all_objects"
        indexes = [models.Index(fields=["shop", "is_active"], name="knowledge_item_shop_active")]

    def __str__(self):
        return self.question

    def similar_texts(self) -> list[str]:
        return [s.text for s in self.similar_questions.all()]

    def phrasings(self, similar: list[str] | None = None) -> list[tuple[str, str]]:
        """The texts the index holds for this item, as ``(text, kind)``; see ``engine.item_phrasings``.

        ``similar``: its similar questions when the caller already loaded them (in order).
        """
        from .engine import item_phrasings

        return item_phrasings(
            question=self.question,
            similar=self.similar_texts() if similar is None else similar,
            keywords=self.keywords or [],
            category=self.category,
            answer=self.answer,
        )


class SimilarQuestion(models.Model):
    """Another way buyers ask an item's question; indexed like the question itself."""

    item = models.ForeignKey(
        KnowledgeItem, verbose_name=_("item"), on_delete=models.CASCADE, related_name="similar_questions"
    )
    text = InputCharField(_("text"), max_length=500)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("similar question")
        verbose_name_plural = _("similar questions")
        ordering = ["item", "position", "id"]

    def __str__(self):
        return self.text


class KnowledgeVector(models.Model):
    """The embedding of one phrasing of an item by one embedder, with the hash of the text embedded.

    A vector whose hash matches none of the item's current phrasings, or made by
    another embedder version, is stale and is rebuilt by ``knowledge_item_reindex``.
    On PostgreSQL with pgvector, a migration adds an ``embedding vector(512)``
    column (and its HNSW index) beside ``vector``; see migration 0002.
    """

    item = models.ForeignKey(KnowledgeItem, verbose_name=_("item"), on_delete=models.CASCADE, related_name="vectors")
    kind = models.CharField(_("kind"), max_length=16, choices=PhrasingKind.choices)
    text = models.TextField(_("phrasing"))
    text_hash = models.CharField(_("text hash"), max_length=64)
    embedder = models.CharField(_("embedder"), max_length=64)
    embedder_version = models.CharField(_("embedder version"), max_length=100)
    dimension = models.PositiveIntegerField(_("dimension"))
    vector = models.BinaryField(_("vector (float32)"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("knowledge vector")
        verbose_name_plural = _("knowledge vectors")
        constraints = [
            models.UniqueConstraint(
                fields=["item", "embedder", "text_hash"], name="%(app_label)s_%(class)s_one_per_phrasing"
            ),
        ]

    def __str__(self):
        return f"{self.embedder}: {self.text[:40]}"

    def as_array(self) -> np.ndarray:
        return np.frombuffer(bytes(self.vector), dtype=np.float32)


class IndexStamp(models.Model):
    """A token that changes, in the same transaction, whenever the items of one scope change.

    ``scope`` is ``shop:<id>`` or ``shared``. A process's in-memory index remembers
    the tokens it was built from and rebuilds when they differ, so no process
    answers from an index older than the last committed edit. A random token (not
    a counter) cannot repeat after a rolled-back transaction (``kb_eval``).
    """

    scope = models.CharField(_("scope"), max_length=40, unique=True)
    token = models.CharField(_("token"), max_length=32, default="")
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("index stamp")
        verbose_name_plural = _("index stamps")

    def __str__(self):
        return f"{self.scope}={self.token}"

    @staticmethod
    def new_token() -> str:
        return uuid.uuid4().hex


class ShopCalibration(AuditedModel):
    """A shop's own confidence calibration, used for its searches instead of the shipped one.

    ``params`` is a calibration document like ``knowledge/calibration.json`` (model,
    coefficients, the embedder it was fitted for), e.g. refitted on the shop's own
    review outcomes. It applies only while the shop's embedder is the one it names;
    otherwise the shop falls back to the shipped calibration.
    """

    shop = models.OneToOneField(
        "customer_service.Shop", verbose_name=_("shop"), on_delete=models.CASCADE,
        related_name="knowledge_calibration",
    )
    params = models.JSONField(_("parameters"))
    source = InputCharField(
        _("source"), max_length=200, blank=True,
        help_text=_("What it was fitted on, e.g. the review outcomes of a period."),
    )

    class Meta:
        verbose_name = _("shop calibration")
        verbose_name_plural = _("shop calibrations")

    def __str__(self):
        return f"{self.shop}: {self.source or self.params.get('embedder', '')}"
