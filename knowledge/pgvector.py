"""The pgvector side of the vector store, used only on PostgreSQL with the ``vector`` extension.

Migration 0002 adds ``knowledge_knowledgevector.embedding vector(512)`` and an
HNSW index (cosine) when the extension can be created; the Django model does not
declare the column, so SQLite and PostgreSQL share one migration state and
``makemigrations --check`` stays clean on both. ``vector`` (float32 bytes) stays
the source of truth; ``embedding`` is a copy kept in step by the services.
Without the column, search is exact, in process.
"""

import numpy as np
from django.db import connection

PGVECTOR_DIMENSION = 512
TABLE = "knowledge_knowledgevector"


def pgvector_enabled(using_connection=None) -> bool:
    """True on PostgreSQL when the ``embedding`` column exists (checked once per database)."""
    conn = using_connection or connection
    if conn.vendor != "postgresql":
        return False
    key = conn.settings_dict["NAME"]
    if key not in _known:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM information_schema.columns WHERE table_name = %s AND column_name = 'embedding'",
                [TABLE],
            )
            _known[key] = cursor.fetchone() is not None
    return _known[key]


_known: dict[str, bool] = {}


def _literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector.tolist()) + "]"


def sync_embeddings(*, item_ids=None, batch: int = 500) -> int:
    """Fill ``embedding`` from ``vector`` where it is empty (512-d rows only). Returns rows written."""
    from .models import KnowledgeVector

    rows = KnowledgeVector.objects.filter(dimension=PGVECTOR_DIMENSION).extra(where=["embedding IS NULL"])
    if item_ids is not None:
        rows = rows.filter(item_id__in=item_ids)
    written = 0
    pending = list(rows.values_list("pk", "vector")[: batch])
    while pending:
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {TABLE} SET embedding = %s::vector WHERE id = %s",  # noqa: S608 - constant table name
                [(_literal(np.frombuffer(bytes(blob), dtype=np.float32)), pk) for pk, blob in pending],
            )
        written += len(pending)
        if len(pending) < batch:
            break
        pending = list(rows.values_list("pk", "vector")[: batch])
    return written


def dense_search(*, shop_id, vector: np.ndarray, k: int = 10, ef_search: int = 100) -> list[tuple[int, float]]:
    """Items of the shop (and shared ones) nearest to ``vector`` by their best phrasing, via the HNSW index.

    Returns ``[(item_id, cosine)]``, best first. Approximate (HNSW); callers that
    need every item's score use the in-process index instead.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")  # takes effect inside a transaction
        cursor.execute(
            f"""
            SELECT item_id, MAX(score) FROM (
                SELECT v.item_id, 1 - (v.embedding <=> %s::vector) AS score
                FROM {TABLE} v
                JOIN knowledge_knowledgeitem i ON i.id = v.item_id
                WHERE (i.shop_id = %s OR i.shop_id IS NULL) AND i.is_active AND i.deleted_at IS NULL
                ORDER BY v.embedding <=> %s::vector
                LIMIT %s
            ) nearest GROUP BY item_id ORDER BY 2 DESC
            """,  # noqa: S608 - constant table name
            [_literal(vector), shop_id, _literal(vector), int(k) * 4],
        )
        return [(item_id, float(score)) for item_id, score in cursor.fetchall()][:k]
