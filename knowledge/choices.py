from django.db import models
from django.utils.translation import gettext_lazy as _


class PhrasingKind(models.TextChoices):
    """Which part of an item a phrasing (an indexed text) comes from."""

    QUESTION = "question", _("question")
    SIMILAR = "similar", _("similar question")
    KEYWORDS = "keywords", _("keywords")
    ANSWER = "answer", _("answer")
    # The question, answer and keywords as one text: read by the confidence, never matched.
    ITEM = "item", _("whole item")


class VectorStatus(models.TextChoices):
    """How an item's stored vectors compare with its current phrasings."""

    FRESH = "fresh", _("up to date")
    STALE = "stale", _("stale")
    MISSING = "missing", _("missing")
