"""The pgvector copy of the vectors, on PostgreSQL with the extension (``--db=postgres``)."""

import numpy as np
import pytest
from django.db import connection

from knowledge import services
from knowledge.embedders import get_embedder
from knowledge.pgvector import dense_search, pgvector_enabled, sync_embeddings

pytestmark = pytest.mark.django_db


def test_sqlite_has_no_pgvector_column_and_search_stays_exact_in_process(world, kb):
    if connection.vendor == "postgresql":
        pytest.skip("SQLite only")
    assert not pgvector_enabled()
    services.knowledge_item_reindex(item=kb["t-cake-001"])  # no pgvector work, no error


@pytest.mark.postgres
def test_reindex_fills_the_embedding_column_and_hnsw_finds_the_nearest_item(world, kb):
    if connection.vendor != "postgresql":
        pytest.skip("run with --db=postgres")
    if not pgvector_enabled():
        pytest.skip("the vector extension is not available in this PostgreSQL")
    for item in kb.values():
        services.knowledge_item_reindex(item=item)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM knowledge_knowledgevector WHERE embedding IS NULL")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'knowledge_vector_embedding_hnsw'")
        assert "hnsw" in cursor.fetchone()[0]
    query = get_embedder().embed(["蛋糕放冰箱能放几天"])[0]
    nearest = dense_search(shop_id=world.shop.pk, vector=query, k=3)
    assert nearest[0][0] == kb["t-cake-001"].pk
    assert all(item_id != kb["t-digital-001"].pk for item_id, _ in dense_search(shop_id=world.shop.pk,
                                                                                 vector=query, k=20))
    shared = dense_search(shop_id=world.other_shop.pk, vector=get_embedder().embed(["能开发票吗"])[0], k=1)
    assert shared[0][0] == kb["t-shared-002"].pk
    assert sync_embeddings() == 0  # nothing left to copy


@pytest.mark.postgres
def test_the_stored_copy_matches_the_float32_bytes(world, kb):
    if connection.vendor != "postgresql" or not pgvector_enabled():
        pytest.skip("PostgreSQL with pgvector only")
    item = kb["t-cake-001"]
    services.knowledge_item_reindex(item=item)
    with connection.cursor() as cursor:
        cursor.execute("SELECT embedding::text, vector FROM knowledge_knowledgevector WHERE item_id = %s LIMIT 1",
                       [item.pk])
        text, blob = cursor.fetchone()
    stored = np.array([float(x) for x in text.strip("[]").split(",")], dtype=np.float32)
    assert np.allclose(stored, np.frombuffer(bytes(blob), dtype=np.float32), atol=1e-6)
