"""Writes for knowledge suggestions.

What a review outcome suggests (``knowledge_suggestion_record``, called by the review actions once the
outcome is committed):

1. An AI draft approved with edits: a new FAQ entry, the buyer's question (the burst's text) with the
   person's final text as the answer.
2. A knowledge answer rejected: a new FAQ entry for the buyer's question, its answer to be written by the
   shop admin who accepts it (the rejected answer is not offered again).
3. An answer sent (approved or edited) that is word for word the answer of another active entry of the
   shop: the person chose that entry, so the buyer's phrasing is suggested as one of its similar questions.

The same phrasing while a suggestion for it is pending counts on that suggestion. Accepting creates or
changes the knowledge entry through ``knowledge.services`` (indexed at once); dismissing only closes it.
"""

from __future__ import annotations

import hashlib

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from customer_service.models import (
    KnowledgeSuggestion,
    ReplySource,
    ReviewItem,
    ReviewStatus,
    SuggestionKind,
    SuggestionStatus,
)
from customer_service.pipeline.text import normalize
from customer_service.shops.selectors import shop_is_manageable
from kefu.exceptions import KefuError, PermissionDenied
from knowledge.models import KnowledgeItem


def phrasing_key(text: str) -> str:
    """A digest of ``text`` normalised as the reply rules match it, without spaces and end punctuation."""
    norm = normalize(text or "").text
    norm = "".join(ch for ch in norm if not ch.isspace()).rstrip("?？!！。.~～")
    return hashlib.sha256(norm.encode()).hexdigest()


def _question_of(item: ReviewItem) -> str:
    from customer_service.review.services import burst_messages

    lines = [m.content for m in burst_messages(item.message).order_by("received_at", "pk")]
    return "\n".join(line for line in lines if line).strip()[:1000]


def _chosen_entry(item: ReviewItem, text: str, draft_item_id) -> KnowledgeItem | None:
    """The active entry of the shop (or shared) whose answer is ``text``, other than the draft's own."""
    if not text.strip():
        return None
    candidates = KnowledgeItem.objects.filter(Q(shop_id=item.shop_id) | Q(shop__isnull=True), is_active=True,
                                              answer=text.strip())
    if draft_item_id:
        candidates = candidates.exclude(pk=draft_item_id)
    return candidates.order_by("shop_id", "pk").first()


def knowledge_suggestion_record(*, item: ReviewItem) -> KnowledgeSuggestion | None:
    """The suggestion ``item``'s outcome makes (see the module's docstring), recorded or counted; None when it
    suggests nothing."""
    item = ReviewItem.objects.select_related("message", "draft").get(pk=item.pk)
    draft = item.draft
    question = _question_of(item)
    if not question:
        return None
    sent_text = item.final_text or (draft.text if draft else "")
    if item.status in (ReviewStatus.APPROVED, ReviewStatus.EDITED):
        chosen = _chosen_entry(item, sent_text, draft.knowledge_item_id if draft else None)
        if chosen is not None:
            return _record(item=item, kind=SuggestionKind.SIMILAR_QUESTION, question=question, answer="",
                           knowledge_item=chosen)
    if item.status == ReviewStatus.EDITED and draft is not None and draft.source == ReplySource.AI:
        return _record(item=item, kind=SuggestionKind.NEW_ITEM, question=question, answer=item.final_text)
    if item.status == ReviewStatus.REJECTED and draft is not None and draft.source == ReplySource.KB:
        return _record(item=item, kind=SuggestionKind.NEW_ITEM, question=question, answer="")
    return None


def _record(*, item, kind, question, answer, knowledge_item=None) -> KnowledgeSuggestion:
    key = phrasing_key(question)
    pending = KnowledgeSuggestion.objects.filter(shop_id=item.shop_id, kind=kind, phrasing_key=key,
                                                 knowledge_item=knowledge_item, status=SuggestionStatus.PENDING)
    changes = {"count": F("count") + 1, "review_item": item, "updated_at": timezone.now()}
    if answer:
        changes["answer"] = answer  # the latest person's answer
    with transaction.atomic():
        if pending.update(**changes):
            return pending.get()
        try:
            with transaction.atomic():
                return KnowledgeSuggestion.objects.create(shop_id=item.shop_id, kind=kind, question=question,
                                                          answer=answer, knowledge_item=knowledge_item,
                                                          phrasing_key=key, review_item=item)
        except IntegrityError:
            pending.update(**changes)
            return pending.get()


def _require_manager(actor, suggestion) -> None:
    if not shop_is_manageable(user=actor, shop=suggestion.shop_id):
        raise PermissionDenied(_("Only an admin of this shop may decide on its knowledge suggestions."))


def _close(*, actor, suggestion, status, **changes) -> None:
    closed = KnowledgeSuggestion.objects.filter(pk=suggestion.pk, status=SuggestionStatus.PENDING).update(
        status=status, decided_by=actor, decided_at=timezone.now(), **changes)
    if closed != 1:
        raise KefuError(_("This suggestion was already decided."), code="already_decided", status_code=409)


@transaction.atomic
def knowledge_suggestion_accept(*, actor, suggestion: KnowledgeSuggestion, question: str | None = None,
                                answer: str | None = None) -> KnowledgeSuggestion:
    """Accept ``suggestion`` (with the person's edits of ``question`` / ``answer``): a new entry is created in
    the shop's knowledge base, or the phrasing joins the chosen entry's similar questions; both are indexed
    when the transaction commits.

    Raises PermissionDenied unless ``actor`` manages the shop; KefuError (409) when already decided, a
    KnowledgeError for an entry the knowledge base refuses (a new entry needs an answer).
    """
    from knowledge.services import knowledge_item_create, knowledge_item_update

    _require_manager(actor, suggestion)
    question = (suggestion.question if question is None else question).strip()
    answer = (suggestion.answer if answer is None else answer).strip()
    if suggestion.kind == SuggestionKind.NEW_ITEM:
        if not answer:
            raise KefuError(_("Write the answer before accepting this suggestion."), code="answer_required")
        created = knowledge_item_create(actor=actor, shop=suggestion.shop, question=question, answer=answer)
        _close(actor=actor, suggestion=suggestion, status=SuggestionStatus.ACCEPTED, created_item=created,
               question=question, answer=answer)
    else:
        entry = KnowledgeItem.objects.select_for_update().get(pk=suggestion.knowledge_item_id)
        knowledge_item_update(item=entry, actor=actor, similar_questions=[*entry.similar_texts(), question])
        _close(actor=actor, suggestion=suggestion, status=SuggestionStatus.ACCEPTED, question=question)
    suggestion.refresh_from_db()
    return suggestion


@transaction.atomic
def knowledge_suggestion_dismiss(*, actor, suggestion: KnowledgeSuggestion) -> KnowledgeSuggestion:
    """Dismiss ``suggestion``. Raises PermissionDenied unless ``actor`` manages the shop; KefuError (409) when
    already decided."""
    _require_manager(actor, suggestion)
    _close(actor=actor, suggestion=suggestion, status=SuggestionStatus.DISMISSED)
    suggestion.refresh_from_db()
    return suggestion
