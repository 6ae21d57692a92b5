"""Per-process, per-shop search indexes, rebuilt when the database says the items changed.

Each process keeps one ``engine.KBIndex`` per shop (its items plus the shared
ones), built on the shop's first search. Every search first reads the shop's and
the shared scope's ``IndexStamp`` tokens (one small query); the services change a
token in the same transaction as the edit, so the first search after a commit in
any process sees a new token and rebuilds. Vectors come from ``KnowledgeVector``;
a phrasing with no fresh vector yet (the reindex task has not run) is embedded
here, in memory, so a search never depends on the task having finished.
"""

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.db import connection

from .embedders import get_embedder
from .engine import KBIndex
from .engine.lexical import LexicalEncoder
from .models import IndexStamp, KnowledgeItem, KnowledgeVector, ShopCalibration, SimilarQuestion, text_hash

SHARED_SCOPE = "shared"


def scope_for(shop_id) -> str:
    return SHARED_SCOPE if shop_id is None else f"shop:{shop_id}"


@dataclass
class ShopIndex:
    """One shop's built index, the stamp tokens it was built from, and the rows it answers with."""

    tokens: tuple
    index: KBIndex
    items: dict = field(default_factory=dict)  # item id -> {"question", "answer", "category", "shop_id", ...}
    versions: dict = field(default_factory=dict)  # item id -> updated_at of the row indexed
    embedder: tuple = ()
    # The shop's own calibration document (``ShopCalibration``), read with the items: a change
    # bumps the shop's stamp, so every process picks it up on its next search.
    calibration: dict | None = None
    build_seconds: float = 0.0
    embedded_on_the_fly: int = 0
    reloaded: int = 0


_indexes: dict = {}
_locks: dict = {}
_registry_lock = threading.Lock()
_lexical = LexicalEncoder()


def current_tokens(shop_id) -> tuple:
    # Read on every search: plain SQL costs a third of the ORM's query building here.
    scope, shared = scope_for(shop_id), SHARED_SCOPE
    with connection.cursor() as cursor:
        cursor.execute(_TOKENS_SQL, [scope, shared])
        rows = dict(cursor.fetchall())
    return rows.get(scope, ""), rows.get(shared, "")


_TOKENS_SQL = "SELECT {scope}, {token} FROM {table} WHERE {scope} IN (%s, %s)".format(  # noqa: S608 (model metadata)
    table=IndexStamp._meta.db_table,
    scope=IndexStamp._meta.get_field("scope").column,
    token=IndexStamp._meta.get_field("token").column,
)


def _lock_for(shop_id) -> threading.Lock:
    with _registry_lock:
        return _locks.setdefault(shop_id, threading.Lock())


def shop_index(shop_id) -> ShopIndex:
    """The up-to-date index of ``shop_id``: the cached one if its tokens still match, else a new build."""
    tokens = current_tokens(shop_id)
    cached = _indexes.get(shop_id)
    if cached is not None and cached.tokens == tokens:
        return cached
    with _lock_for(shop_id):
        cached = _indexes.get(shop_id)
        if cached is not None and cached.tokens == tokens:
            return cached
        built = build_shop_index(shop_id, tokens=tokens, previous=cached)
        _indexes[shop_id] = built
        return built


# Past this many changed items, load the whole scope in one query rather than by ids.
BULK_RELOAD = 500


def build_shop_index(shop_id, *, tokens=("", ""), previous: ShopIndex | None = None) -> ShopIndex:
    """Load the shop's searchable items and their stored vectors into a new index.

    1. Items: the shop's and the shared ones, active and not deleted, with the
       ``updated_at`` of each. Rows unchanged since ``previous`` was built keep
       their parsed phrasings and vectors (an edit reloads one item, not the shop).
    2. Vectors of the current embedder, matched to phrasings by text hash.
    3. Phrasings without a vector are embedded now, in one batch.
    4. The shop's own calibration, when it has one (``ShopCalibration``).
    A new index is built beside ``previous``, which other threads may be searching.
    """
    started = time.perf_counter()
    embedder = get_embedder()
    searchable = KnowledgeItem.objects.searchable().for_shop(shop_id)
    versions = dict(searchable.values_list("pk", "updated_at"))
    reuse = set()
    if previous is not None and previous.embedder == (embedder.name, embedder.version):
        reuse = {pk for pk, stamp in versions.items() if previous.versions.get(pk) == stamp}
    wanted = [pk for pk in versions if pk not in reuse]
    loading = searchable.order_by("pk")
    vectors = KnowledgeVector.objects.filter(embedder=embedder.name, embedder_version=embedder.version)
    # One grouped query instead of a prefetch: Django's prefetch costs more per item than the
    # rest of the load, which a cold build of a large shop pays 100,000 times.
    similar_rows = SimilarQuestion.objects.order_by("item_id", "position", "id")
    if len(wanted) <= BULK_RELOAD:
        loading = loading.filter(pk__in=wanted)
        vectors = vectors.filter(item__in=wanted)
        similar_rows = similar_rows.filter(item__in=wanted)
    else:
        vectors = vectors.filter(item__in=searchable.values("pk"))
        similar_rows = similar_rows.filter(item__in=searchable.values("pk"))
    items = [item for item in loading if item.pk not in reuse]
    similar = defaultdict(list)
    for item_id, text in similar_rows.values_list("item_id", "text").iterator(chunk_size=2000):
        similar[item_id].append(text)
    stored = {}
    for item_id, digest, blob in vectors.values_list("item_id", "text_hash", "vector").iterator(chunk_size=2000):
        if item_id not in reuse:
            stored[(item_id, digest)] = blob
    phrasings = {item.pk: item.phrasings(similar=similar.get(item.pk, [])) for item in items}
    missing = [(item_id, text) for item_id, rows in phrasings.items() for text, _ in rows
               if (item_id, text_hash(text)) not in stored]
    fresh = {}
    if missing:
        matrix = embedder.embed([text for _, text in missing])
        fresh = dict(zip(missing, matrix, strict=True))
    index = KBIndex(embedder, _lexical)
    if len(versions) < index.cfg["min_items_for_statistics"]:
        for n, (text, vector) in enumerate(_reference_vectors(embedder)):
            index.add_reference(n, [(text, "question")], vector[None, :])
    meta, indexed = {}, {}
    if reuse:
        index.adopt(previous.index, reuse)
        meta = {pk: previous.items[pk] for pk in reuse}
        indexed = {pk: versions[pk] for pk in reuse}
    for item in items:
        rows = phrasings[item.pk]
        matrix = np.stack([
            fresh[(item.pk, text)] if (item.pk, text) in fresh
            else np.frombuffer(bytes(stored[(item.pk, text_hash(text))]), dtype=np.float32)
            for text, _ in rows
        ])
        index.add(item.pk, rows, matrix)
        meta[item.pk] = {"question": item.question, "answer": item.answer, "category": item.category,
                         "shop_id": item.shop_id, "external_id": item.external_id}
        indexed[item.pk] = item.updated_at
    index.build()
    own = ShopCalibration.objects.filter(shop_id=shop_id).values_list("params", flat=True).first()
    return ShopIndex(tokens=tokens, index=index, items=meta, versions=indexed,
                     embedder=(embedder.name, embedder.version), calibration=own,
                     build_seconds=time.perf_counter() - started, embedded_on_the_fly=len(missing),
                     reloaded=len(items))


_reference_cache: dict = {}
REFERENCE_FILE = Path(__file__).with_name("engine") / "reference_phrasings.txt"


def _reference_vectors(embedder) -> list:
    """The reference phrasings and their vectors, embedded once per process and embedder."""
    key = (embedder.name, embedder.version)
    if key not in _reference_cache:
        texts = [line.strip() for line in REFERENCE_FILE.read_text(encoding="utf-8").splitlines()
                 if line.strip() and not line.startswith("#")]
        _reference_cache[key] = list(zip(texts, embedder.embed(texts), strict=True))
    return _reference_cache[key]


def forget(shop_id=None) -> None:
    """Drop this process's cached index of one shop (all shops when None), e.g. after a rolled-back kb_eval."""
    if shop_id is None:
        _indexes.clear()
    else:
        _indexes.pop(shop_id, None)
