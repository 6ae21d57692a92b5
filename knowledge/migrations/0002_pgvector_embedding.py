"""On PostgreSQL with pgvector available: the extension, an ``embedding vector(512)`` column, an HNSW index.

Done outside Django's model state (the model keeps only the float32 bytes) so
that SQLite and PostgreSQL share one migration history and ``makemigrations
--check`` is clean on both. Elsewhere, or when the extension cannot be created,
this is a no-op and search stays exact, in process.
"""

from django.db import migrations

TABLE = "knowledge_knowledgevector"


def add_embedding(apps, schema_editor):
    conn = schema_editor.connection
    if conn.vendor != "postgresql":
        return
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
        installed = cursor.fetchone() is not None
        if not installed:
            cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
            if cursor.fetchone() is None:
                return
            cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
        cursor.execute(f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS embedding vector(512)")
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS knowledge_vector_embedding_hnsw ON {TABLE} "
            "USING hnsw (embedding vector_cosine_ops)"
        )


def drop_embedding(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} DROP COLUMN IF EXISTS embedding")


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0001_initial")]

    operations = [migrations.RunPython(add_embedding, drop_embedding)]
