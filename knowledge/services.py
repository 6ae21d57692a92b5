"""Writes: knowledge items, their similar questions and vectors, and the index stamps.

Every change to what a shop's search can return bumps the stamp of the item's
scope in the same transaction (so no process answers from an older index once
it commits) and, after commit, queues the rebuild of the item's stored vectors.
"""

from collections.abc import Callable, Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.exceptions import full_clean
from kefu.validators import validate_no_control_characters

from .embedders import get_embedder
from .engine import calibration
from .exceptions import KnowledgeError
from .index import scope_for
from .models import (
    KEYWORD_MAX_LENGTH,
    KEYWORDS_MAX,
    SIMILAR_QUESTION_MAX_LENGTH,
    SIMILAR_QUESTIONS_MAX,
    IndexStamp,
    KnowledgeItem,
    KnowledgeVector,
    ShopCalibration,
    SimilarQuestion,
    text_hash,
)

ITEM_FIELDS = ("question", "answer", "category", "keywords", "is_active", "external_id")


def clean_text_list(values, *, field: str, max_length: int | None = None, max_entries: int | None = None) -> list[str]:
    """Strip, drop blanks and exact repeats; accept a list or a "|"/newline separated string.

    With ``max_length`` / ``max_entries``, a longer entry or more entries are refused.
    """
    if values is None:
        return []
    if isinstance(values, str):
        return clean_text_list(values.replace("\n", "|").split("|"), field=field, max_length=max_length,
                               max_entries=max_entries)
    if isinstance(values, dict | bytes) or not isinstance(values, Iterable):
        raise KnowledgeError(f"{field} must be a list of texts.", code="invalid_item", detail={field: ["Not a list."]})
    out = []
    for value in values:
        if not isinstance(value, str):
            raise KnowledgeError(f"{field} must be a list of texts.", code="invalid_item",
                                 detail={field: ["Not a text."]})
        if "|" in value:
            raise KnowledgeError(f'{field}: "|" separates entries in CSV and XLSX; use it in no entry.',
                                 code="invalid_item", detail={field: ['Contains "|".']})
        try:
            validate_no_control_characters(value)
        except ValidationError as exc:
            raise KnowledgeError.from_validation_error(exc, field=field, code="invalid_item") from exc
        value = value.strip()
        if max_length is not None and len(value) > max_length:
            message = _("%(field)s: an entry is longer than %(limit)d characters.") % {"field": field,
                                                                                        "limit": max_length}
            raise KnowledgeError(message, code="invalid_item", detail={field: [message]})
        if value and value not in out:
            out.append(value)
    if max_entries is not None and len(out) > max_entries:
        message = _("%(field)s: at most %(limit)d entries.") % {"field": field, "limit": max_entries}
        raise KnowledgeError(message, code="invalid_item", detail={field: [message]})
    return out


def clean_keywords(values) -> list[str]:
    return clean_text_list(values, field="keywords", max_length=KEYWORD_MAX_LENGTH, max_entries=KEYWORDS_MAX)


def index_stamp_bump(*, shop_id) -> None:
    """Change the stamp of a scope (a shop, or the shared items when ``shop_id`` is None).

    Call inside the transaction of the edit, before it writes any item: the new token
    becomes visible with the edit, and every writer locks the stamp row first, then the
    items. In the other order an import (which locks the stamp before reading the items)
    and an edit of an item it updates would wait for each other, and PostgreSQL would
    abort one of them as a deadlock.
    """
    scope = scope_for(shop_id)
    stamps = IndexStamp.objects.filter(scope=scope)
    if stamps.update(token=IndexStamp.new_token(), updated_at=timezone.now()):
        return
    _, created = IndexStamp.objects.get_or_create(scope=scope, defaults={"token": IndexStamp.new_token()})
    if not created:
        # Another transaction created the scope's first stamp meanwhile; keeping its
        # token would let this edit commit unseen by a process built in between.
        stamps.update(token=IndexStamp.new_token(), updated_at=timezone.now())


def index_scope_lock(*, shop_id) -> None:
    """Hold the lock of a scope (a shop, or the shared items) until the transaction ends.

    For writes that read the scope's items first and must not interleave with another
    such write (an import deciding which rows are duplicates). Call inside a transaction.
    On SQLite the immediate transaction already holds the database's write lock.
    """
    scope = scope_for(shop_id)
    IndexStamp.objects.get_or_create(scope=scope, defaults={"token": IndexStamp.new_token()})
    list(IndexStamp.objects.select_for_update().filter(scope=scope).values_list("pk", flat=True))


def _enqueue_reindex(item_ids: list[int]) -> None:
    from .tasks import reindex_items_task

    if item_ids:
        transaction.on_commit(lambda: reindex_items_task.delay(item_ids))


def _validate(item: KnowledgeItem) -> None:
    full_clean(item, error=KnowledgeError, code="invalid_item")


def _set_similar(item: KnowledgeItem, similar: list[str]) -> None:
    SimilarQuestion.objects.filter(item=item).delete()
    SimilarQuestion.objects.bulk_create(
        [SimilarQuestion(item=item, text=text, position=n) for n, text in enumerate(similar)]
    )
    if hasattr(item, "_prefetched_objects_cache"):
        item._prefetched_objects_cache.pop("similar_questions", None)


@transaction.atomic
def knowledge_item_create(
    *,
    actor,
    shop,
    question: str,
    answer: str,
    category: str = "",
    keywords: Iterable[str] = (),
    similar_questions: Iterable[str] = (),
    is_active: bool = True,
    external_id: str = "",
    reindex: bool = True,
) -> KnowledgeItem:
    """Create an item (``shop`` None: shared by every shop) with its similar questions.

    Raises ``KnowledgeError`` (code ``invalid_item``) with per-field detail.
    Side effects: bumps the scope's index stamp; queues the vector build after commit.
    """
    item = KnowledgeItem(
        shop=shop,
        question=(question or "").strip(),
        answer=(answer or "").strip(),
        category=(category or "").strip(),
        keywords=clean_keywords(keywords),
        is_active=is_active,
        external_id=(external_id or "").strip(),
    )
    similar = clean_similar_questions(similar_questions, question=item.question)
    _validate(item)
    index_stamp_bump(shop_id=item.shop_id)
    item.stamp(actor)
    item.save()
    _set_similar(item, similar)
    if reindex:
        _enqueue_reindex([item.pk])
    return item


def clean_similar_questions(values, *, question: str) -> list[str]:
    """The similar questions to store: cleaned like any text list, each ≤ 500 characters,
    the question itself left out (it is indexed anyway). Raises ``KnowledgeError``."""
    similar = clean_text_list(values, field="similar_questions", max_length=SIMILAR_QUESTION_MAX_LENGTH,
                              max_entries=SIMILAR_QUESTIONS_MAX)
    return [s for s in similar if s != question.strip()]


@transaction.atomic
def knowledge_item_update(*, item: KnowledgeItem, actor, similar_questions=None, reindex: bool = True,
                          **fields) -> KnowledgeItem:
    """Change some of ``question, answer, category, keywords, is_active, external_id`` and,
    when given, replace the similar questions. Moving an item to another shop is allowed
    (``shop=``) and bumps both scopes.

    Raises ``KnowledgeError``. Side effects as ``knowledge_item_create`` (``reindex=False``:
    the caller queues the vectors of many items at once).
    """
    unknown = set(fields) - set(ITEM_FIELDS) - {"shop"}
    if unknown:
        raise KnowledgeError(f"Unknown fields: {', '.join(sorted(unknown))}.", code="invalid_item")
    # From the database: a form may already have put the new shop on the instance.
    old_shop_id = KnowledgeItem.all_objects.filter(pk=item.pk).values_list("shop_id", flat=True).first()
    for name, value in fields.items():
        if name == "keywords":
            value = clean_keywords(value)
        elif isinstance(value, str):
            value = value.strip()
        setattr(item, name, value)
    _validate(item)
    similar = None if similar_questions is None else clean_similar_questions(similar_questions,
                                                                               question=item.question)
    knowledge_scopes_changed(shop_ids={item.shop_id, old_shop_id})
    item.stamp(actor)
    item.save()
    if similar is not None:
        _set_similar(item, similar)
    if reindex:
        _enqueue_reindex([item.pk])
    return item


@transaction.atomic
def knowledge_item_delete(*, item: KnowledgeItem, actor) -> None:
    """Soft-delete: hidden from lists and search at once; restorable. Bumps the scope's stamp."""
    index_stamp_bump(shop_id=item.shop_id)
    item.deleted_at = timezone.now()
    item.stamp(actor)
    item.save(update_fields=["deleted_at", "updated_by", "updated_at"])


@transaction.atomic
def knowledge_item_restore(*, item: KnowledgeItem, actor) -> None:
    index_stamp_bump(shop_id=item.shop_id)
    item.deleted_at = None
    item.stamp(actor)
    item.save(update_fields=["deleted_at", "updated_by", "updated_at"])
    _enqueue_reindex([item.pk])


@transaction.atomic
def knowledge_item_purge(*, item: KnowledgeItem) -> None:
    """Delete for good, with its similar questions and vectors."""
    index_stamp_bump(shop_id=item.shop_id)
    item.hard_delete()


@transaction.atomic
def knowledge_scopes_changed(*, shop_ids) -> None:
    """Bump the stamp of each scope in ``shop_ids``, before the rows of a write (a move between
    shops, a bulk purge) change. Always in one order (the shared scope, then by shop id), so
    two writers bumping the same scopes do not wait for each other."""
    for shop_id in sorted(set(shop_ids), key=lambda shop_id: (shop_id is not None, shop_id or 0)):
        index_stamp_bump(shop_id=shop_id)


@transaction.atomic
def knowledge_items_set_active(*, items, actor, active: bool) -> int:
    """Activate or deactivate many items; returns how many changed."""
    changing = [item for item in items if item.is_active != active]
    knowledge_scopes_changed(shop_ids={item.shop_id for item in changing})
    for item in changing:
        item.is_active = active
        item.stamp(actor)
        item.save(update_fields=["is_active", "updated_by", "updated_at"])
    return len(changing)


def knowledge_item_reindex(*, item: KnowledgeItem, embedder=None, force: bool = False) -> dict:
    """Make the stored vectors match the item's phrasings; see ``knowledge_items_reindex``."""
    return knowledge_items_reindex(items=[item], embedder=embedder, force=force)


def knowledge_items_reindex(*, items, embedder=None, force: bool = False) -> dict:
    """For each item, keep the vectors that still match a phrasing, delete the others
    (other text, other embedder or version), embed the missing phrasings — in one
    embedder call for all ``items``.

    Returns ``{"created": n, "deleted": n, "kept": n}``. Does not bump the stamp:
    the index already embeds a phrasing that has no stored vector, so results do
    not change; only the next build gets faster. An item keeps the vectors of the
    current embedder only: switching embedders means reindexing everything.
    """
    embedder = embedder or get_embedder()
    items = list(items)
    wanted = {item.pk: {text_hash(text): (text, kind) for text, kind in item.phrasings()} for item in items}
    keep: dict[int, set] = {item.pk: set() for item in items}
    if not force:
        current = KnowledgeVector.objects.filter(item__in=[item.pk for item in items], embedder=embedder.name,
                                                 embedder_version=embedder.version)
        for item_id, digest in current.values_list("item_id", "text_hash"):
            if digest in wanted[item_id]:
                keep[item_id].add(digest)
    todo = [(item, digest, text, kind) for item in items for digest, (text, kind) in wanted[item.pk].items()
            if digest not in keep[item.pk]]
    matrix = embedder.embed([text for _, _, text, _ in todo]) if todo else []
    deleted = 0
    with transaction.atomic():
        for item in items:
            deleted += KnowledgeVector.objects.filter(item=item).exclude(
                embedder=embedder.name, embedder_version=embedder.version, text_hash__in=list(keep[item.pk])
            ).delete()[0]
        KnowledgeVector.objects.bulk_create([
            KnowledgeVector(item=item, kind=kind, text=text, text_hash=digest, embedder=embedder.name,
                            embedder_version=embedder.version, dimension=int(row.shape[0]),
                            vector=row.astype("<f4").tobytes())
            for (item, digest, text, kind), row in zip(todo, matrix, strict=True)
        ], batch_size=1000)
        _pgvector_sync(item_ids=[item.pk for item in items])
    return {"created": len(todo), "deleted": deleted, "kept": sum(len(k) for k in keep.values())}


def knowledge_reindex(
    *,
    items,
    stale_only: bool = False,
    embedder=None,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Reindex many items (a queryset); with ``stale_only`` skip the fresh ones.

    Works in batches of 500 items (one embedder call each); ``progress(n)`` is
    called after each batch with its size. Returns summed counts and ``items``.
    """
    from .choices import VectorStatus
    from .selectors import knowledge_vector_statuses

    embedder = embedder or get_embedder()
    totals = {"items": 0, "created": 0, "deleted": 0, "kept": 0, "skipped": 0}
    items = items.prefetch_related("similar_questions").order_by("pk")
    batch = []

    def flush():
        statuses = knowledge_vector_statuses(items=batch, embedder=embedder) if stale_only else {}
        todo = [item for item in batch if not stale_only or statuses[item.pk] != VectorStatus.FRESH]
        if todo:
            counts = knowledge_items_reindex(items=todo, embedder=embedder)
            for key in ("created", "deleted", "kept"):
                totals[key] += counts[key]
        totals["items"] += len(todo)
        totals["skipped"] += len(batch) - len(todo)
        if progress:
            progress(len(batch))
        batch.clear()

    for item in items.iterator(chunk_size=500):
        batch.append(item)
        if len(batch) >= 500:
            flush()
    flush()
    return totals


def _pgvector_sync(*, item_ids: list[int]) -> None:
    """On PostgreSQL with pgvector, copy the float32 bytes into the ``embedding`` column."""
    from .pgvector import pgvector_enabled, sync_embeddings

    if pgvector_enabled():
        sync_embeddings(item_ids=item_ids)


@transaction.atomic
def knowledge_items_reindex_later(*, items) -> int:
    """Queue the rebuild of these items' vectors after commit; returns how many."""
    ids = list(items.values_list("pk", flat=True))
    _enqueue_reindex(ids)
    return len(ids)


def _may_calibrate(actor, shop) -> bool:
    """The system (no actor), a superadmin, or an admin of the shop."""
    from customer_service.shops.selectors import shop_is_manageable

    return actor is None or shop_is_manageable(user=actor, shop=shop)


@transaction.atomic
def shop_calibration_set(*, actor, shop, params: dict, source: str = "") -> ShopCalibration:
    """Give ``shop`` its own confidence calibration (a calibration document, e.g. fitted on its review
    outcomes), replacing any it had; its searches use it while the embedder is the one it names.

    ``actor`` None is the system. Raises ``KnowledgeError``: ``permission_denied`` unless the actor
    is a superadmin or an admin of the shop, ``invalid_calibration`` when ``params`` cannot be read.
    Side effect: bumps the shop's index stamp, so every process uses it from its next search.
    """
    if not _may_calibrate(actor, shop):
        raise KnowledgeError(_("Only a superadmin or an admin of the shop may change its calibration."),
                             code="permission_denied", status_code=403)
    try:
        calibration.validate(params)
    except ValueError as exc:
        raise KnowledgeError(_("The calibration cannot be used: %(reason)s") % {"reason": exc},
                             code="invalid_calibration") from exc
    index_stamp_bump(shop_id=shop.pk)
    row = ShopCalibration.objects.filter(shop=shop).first() or ShopCalibration(shop=shop)
    row.params = params
    row.source = (source or "").strip()
    row.stamp(actor)
    full_clean(row, error=KnowledgeError, code="invalid_calibration")
    row.save()
    return row


@transaction.atomic
def shop_calibration_clear(*, actor, shop) -> bool:
    """Take ``shop``'s own calibration away (it uses the shipped one again); returns whether it had one.

    Raises ``KnowledgeError`` (``permission_denied``) as ``shop_calibration_set``; bumps the shop's stamp.
    """
    if not _may_calibrate(actor, shop):
        raise KnowledgeError(_("Only a superadmin or an admin of the shop may change its calibration."),
                             code="permission_denied", status_code=403)
    index_stamp_bump(shop_id=shop.pk)
    deleted, _rows = ShopCalibration.objects.filter(shop=shop).delete()
    return bool(deleted)

