"""Any OpenAI-compatible ``/embeddings`` endpoint, reached through ``billing.router``.

The router picks the embedding model config, fails over between providers and
writes a usage record for every call; this module only shapes the vectors.
"""

import numpy as np

from kefu.validators import without_control_characters

from ..exceptions import KnowledgeError
from .base import Embedder


class ProviderEmbedder(Embedder):
    name = "provider"
    dimension = 0

    def __init__(self, *, user=None, shop=None, batch_size: int = 64):
        self.user = user
        self.shop = shop
        self.batch_size = batch_size
        self._version: str | None = None

    @property
    def version(self) -> str:
        """The model code behind the vectors: the one the router used last, or before any call
        the one it would try first. Vectors made by another model are stale.

        Knowing it before the first call matters: a new process would otherwise take
        every stored vector for another model's and pay to embed them all again.
        """
        if self._version is None:
            self._version = self._preferred_model() or "router"
        return self._version

    def _preferred_model(self) -> str | None:
        from billing import router

        return router.embed_model_code(user=self.user, shop=self.shop)

    def embed(self, texts: list[str]) -> np.ndarray:
        from billing import router  # billing depends on nothing here; import late to keep apps loosely tied

        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        # Buyer text may carry invisible control characters (pasted, or read off a window);
        # the router refuses them, and they mean nothing to an embedding: cleaned, as recorded text is.
        texts = [without_control_characters(text) for text in texts]
        rows = []
        for start in range(0, len(texts), self.batch_size):
            chunk = list(texts[start : start + self.batch_size])
            try:
                result = router.embed(chunk, user=self.user, shop=self.shop)
            except Exception as exc:  # the router raises its own errors; search reports ours
                raise KnowledgeError(f"The embedding provider failed: {exc}", code="embedder_failed") from exc
            if len(result.vectors) != len(chunk):
                raise KnowledgeError("The embedding provider returned a wrong number of vectors.",
                                     code="embedder_failed")
            rows.extend(result.vectors)
            self._version = getattr(result.model, "code", None) or self.version
        matrix = self.l2_normalise(np.asarray(rows, dtype=np.float32))
        self.dimension = int(matrix.shape[1])
        return matrix
