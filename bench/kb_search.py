"""Knowledge search latency and index build time at 1k, 10k and 100k items.

For each size, a fresh database gets one shop with that many items (the
ATEC "large" FAQ grown with buyer-style variants of its questions), their
stored vectors, and then:

* SQLite / in-process: the time a worker takes to build the shop's index from
  the database (its first search), and p50/p95 of ``knowledge.search`` — the
  whole path: stamp read, query normalisation and embedding, hybrid scoring,
  calibration; then the rebuild after one item is edited (what the next search
  after an edit waits for: the edited item is reloaded, the rest reused);
* PostgreSQL / pgvector: the same, plus the HNSW index build time and p50/p95
  of a pgvector nearest-neighbour query (query embedding included).

Each (backend, size) runs in its own process so each gets its own database.
Embeddings of the grown item set are cached (``--cache``) across runs.

Run: .venv/bin/python bench/kb_search.py [--sizes 1000,10000,100000] [--backends sqlite,postgres]
     [--queries 300] [--data ../shared/data/kb_eval/large]
"""

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = PROJECT.parent / "shared" / "data" / "kb_eval" / "large"
PREFIXES = ["", "请问", "亲，", "我想问下", "你好，", "麻烦问一下", "在吗，"]
SUFFIXES = ["", "呢", "怎么办", "吗", "啊", "是什么原因", "怎么回事", "要怎么弄", "？"]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def grown_questions(base: list[str], size: int) -> list[str]:
    """``size`` distinct questions: the base ones, then variants of each — its first two thirds
    joined to the second half of another question, with a buyer's greeting and ending.

    Round ``r`` pairs question ``p`` with question ``p + 1 + r``, so pairs never repeat
    before ``len(base) - 1`` rounds (3,000 base questions give millions of variants).
    """
    out = list(dict.fromkeys(base))[:size]
    seen = set(out)
    n, i = len(base), 0
    while len(out) < size:
        rnd, p = divmod(i, n)
        if rnd >= n - 1:
            raise ValueError(f"cannot grow {n} questions to {size}")
        q, other = base[p], base[(p + 1 + rnd) % n]
        variant = (PREFIXES[i % len(PREFIXES)] + q[: max(2, len(q) * 2 // 3)] + other[len(other) // 2:]
                   + SUFFIXES[(i // len(PREFIXES)) % len(SUFFIXES)])
        if variant not in seen:
            seen.add(variant)
            out.append(variant)
        i += 1
    return out


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


# ----------------------------------------------------------------------------- one (backend, size), in a child

def worker(args) -> dict:
    import django

    django.setup()
    import numpy as np
    from django.core.management import call_command
    from django.db import connection

    from customer_service.models import Shop
    from knowledge.embedders import get_embedder
    from knowledge.index import build_shop_index
    from knowledge.models import IndexStamp, KnowledgeItem, KnowledgeVector, text_hash
    from knowledge.pgvector import TABLE, dense_search, pgvector_enabled, sync_embeddings
    from knowledge.selectors import knowledge_search

    call_command("migrate", verbosity=0)
    questions = json.loads(Path(args.items_file).read_text(encoding="utf-8"))
    vectors = np.load(args.vectors_file)
    queries = json.loads(Path(args.queries_file).read_text(encoding="utf-8"))
    embedder = get_embedder()
    result = {"backend": connection.vendor, "items": len(questions)}

    started = time.perf_counter()
    shop = Shop.objects.create(name="bench")
    for start in range(0, len(questions), 5000):
        chunk = questions[start:start + 5000]
        items = KnowledgeItem.objects.bulk_create(
            [KnowledgeItem(shop=shop, question=q, answer=q, external_id=str(start + n)) for n, q in enumerate(chunk)]
        )
        KnowledgeVector.objects.bulk_create([
            KnowledgeVector(item=item, kind="question", text=q, text_hash=text_hash(q), embedder=embedder.name,
                            embedder_version=embedder.version, dimension=512,
                            vector=vectors[start + n].astype("<f4").tobytes())
            for n, (item, q) in enumerate(zip(items, chunk, strict=True))
        ])
    IndexStamp.objects.create(scope=f"shop:{shop.pk}", token=IndexStamp.new_token())
    result["insert_s"] = time.perf_counter() - started

    if pgvector_enabled():
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX IF EXISTS knowledge_vector_embedding_hnsw")
        sync_embeddings(batch=2000)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE INDEX knowledge_vector_embedding_hnsw ON {TABLE} "
                           "USING hnsw (embedding vector_cosine_ops)")
            cursor.execute(f"ANALYZE {TABLE}")
        result["hnsw_build_s"] = time.perf_counter() - started

    # Load the model and the segmenter first: a worker pays that once, not per build.
    embedder.embed(["预热一下"])
    from knowledge.index import _lexical

    _lexical.features("预热一下")
    started = time.perf_counter()
    built = build_shop_index(shop.pk)
    result["index_build_s"] = time.perf_counter() - started
    assert built.embedded_on_the_fly == 0

    knowledge_search(shop=shop.pk, text="预热一下", k=5)
    timings, cpu = [], []
    for q in queries:
        t, c = time.perf_counter(), time.process_time()
        knowledge_search(shop=shop.pk, text=q, k=5)
        timings.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    result["search_p50_ms"], result["search_p95_ms"] = percentile(timings, 50), percentile(timings, 95)
    # CPU time of this process: what a search costs when the machine is not shared.
    result["search_cpu_p50_ms"], result["search_cpu_p95_ms"] = percentile(cpu, 50), percentile(cpu, 95)

    # An edit bumps the stamp: the next search rebuilds, reloading only the edited item.
    from knowledge.index import shop_index
    from knowledge.services import knowledge_item_update

    shop_index(shop.pk)
    knowledge_item_update(item=KnowledgeItem.objects.filter(shop=shop).first(), actor=None, answer="已修改的答案")
    started = time.perf_counter()
    assert shop_index(shop.pk).reloaded == 1
    result["rebuild_after_edit_s"] = time.perf_counter() - started

    if pgvector_enabled():
        from django.db import transaction

        timings = []
        for q in queries:
            t = time.perf_counter()
            with transaction.atomic():  # SET LOCAL hnsw.ef_search needs a transaction
                dense_search(shop_id=shop.pk, vector=embedder.embed([q])[0], k=5)
            timings.append((time.perf_counter() - t) * 1000)
        result["pgvector_p50_ms"], result["pgvector_p95_ms"] = percentile(timings, 50), percentile(timings, 95)
    return result


# ----------------------------------------------------------------------------- parent

def embed_cached(questions: list[str], cache_dir: Path) -> Path:
    digest = hashlib.sha256("\n".join(questions).encode()).hexdigest()[:16]
    path = cache_dir / f"kb_bench_{len(questions)}_{digest}.npy"
    if not path.exists():
        import numpy as np

        sys.path.insert(0, str(PROJECT))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kefu.settings.local")
        from knowledge.embedders.use import USEEmbedder

        embedder = USEEmbedder(threads=1)
        started = time.perf_counter()
        rows = [embedder.embed(questions[s:s + 256]) for s in range(0, len(questions), 256)]
        print(f"embedded {len(questions)} questions in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        np.save(path, np.concatenate(rows).astype(np.float32))
    return path


def run_child(backend: str, items_file: Path, vectors_file: Path, queries_file: Path, workdir: Path,
              postgres_url: str | None) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "kefu.settings.local", "DJANGO_READ_DOT_ENV_FILE": "false",
           "KEFU_VAR_DIR": str(workdir), "KEFU_KNOWLEDGE_EMBEDDER": "use",
           "KEFU_ENCRYPTION_KEYS": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}
    env.pop("REDIS_URL", None)
    env["DATABASE_URL"] = postgres_url if backend == "postgres" else f"sqlite:///{workdir}/bench.sqlite3"
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--items-file", str(items_file), "--vectors-file", str(vectors_file),
         "--queries-file", str(queries_file)],
        cwd=PROJECT, env=env, capture_output=True, text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"{backend} run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fresh_postgres_database(server_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(server_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
        try:
            with psycopg.connect(server_url.rsplit("/", 1)[0] + f"/{name}", autocommit=True) as db:
                db.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.Error as exc:
            print(f"pgvector unavailable: {exc}", file=sys.stderr)
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with faq.jsonl and queries.jsonl")
    parser.add_argument("--cache", type=Path, default=PROJECT / "var" / "bench")
    parser.add_argument("--postgres-url", default=os.environ.get("KEFU_BENCH_POSTGRES_URL"),
                        help="a PostgreSQL server to use (default: start a throw-away one)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--items-file", help=argparse.SUPPRESS)
    parser.add_argument("--vectors-file", help=argparse.SUPPRESS)
    parser.add_argument("--queries-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(PROJECT))
        print(json.dumps(worker(args)))
        return

    if not (args.data / "faq.jsonl").exists() or not (args.data / "queries.jsonl").exists():
        parser.error(f"{args.data} has no faq.jsonl and queries.jsonl: give --data FOLDER (an FAQ set to grow)")
    base = [row["question"] for row in read_jsonl(args.data / "faq.jsonl")]
    queries = [row["query"] for row in read_jsonl(args.data / "queries.jsonl")][: args.queries]
    args.cache.mkdir(parents=True, exist_ok=True)
    backends = [b for b in args.backends.split(",") if b]
    server = None
    if "postgres" in backends and not args.postgres_url:
        sys.path.insert(0, str(PROJECT))
        from tests.plugins.servers import PostgresServer

        server = PostgresServer().start()
        args.postgres_url = server.url
    rows = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so the throw-away server is stopped
    try:
        with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
            tmp = Path(tmp)
            queries_file = tmp / "queries.json"
            queries_file.write_text(json.dumps(queries, ensure_ascii=False), encoding="utf-8")
            for size in [int(s) for s in args.sizes.split(",")]:
                questions = grown_questions(base, size)
                items_file = tmp / f"items_{size}.json"
                items_file.write_text(json.dumps(questions, ensure_ascii=False), encoding="utf-8")
                vectors_file = embed_cached(questions, args.cache)
                for backend in backends:
                    workdir = tmp / f"{backend}_{size}"
                    workdir.mkdir()
                    url = fresh_postgres_database(args.postgres_url, f"kb_bench_{size}") if backend == "postgres" \
                        else None
                    row = run_child(backend, items_file, vectors_file, queries_file, workdir, url)
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr)
    finally:
        if server:
            server.stop()

    load = os.getloadavg()[0]
    print(f"{len(queries)} queries from {args.data}/queries.jsonl; load average {load:.1f} on {os.cpu_count()} CPUs")
    print("| backend | items | insert s | index build s (in-process) | rebuild after an edit s | HNSW build s "
          "| search p50 ms | search p95 ms | search CPU p50 ms | search CPU p95 ms | pgvector ANN p50 ms "
          "| pgvector ANN p95 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")

    def f(row, key, digits=2):
        return f"{row[key]:.{digits}f}" if key in row else "—"

    for row in rows:
        print(f"| {row['backend']} | {row['items']} | {f(row, 'insert_s', 1)} | {f(row, 'index_build_s')} | "
              f"{f(row, 'rebuild_after_edit_s')} | "
              f"{f(row, 'hnsw_build_s')} | {f(row, 'search_p50_ms')} | {f(row, 'search_p95_ms')} | "
              f"{f(row, 'search_cpu_p50_ms')} | {f(row, 'search_cpu_p95_ms')} | "
              f"{f(row, 'pgvector_p50_ms')} | {f(row, 'pgvector_p95_ms')} |")


if __name__ == "__main__":
    main()
