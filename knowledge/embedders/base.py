"""The interface every embedder implements; one module per embedder in this package."""

import numpy as np


class Embedder:
    """Turns texts into L2-normalised float32 vectors.

    ``name`` and ``version`` are stored with every vector: vectors made by another
    name or version are stale. ``dimension`` may be 0 until the first call when
    the remote model decides it (the provider embedder).
    """

    name = "base"
    version = "0"
    dimension = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        """Returns an ``(len(texts), dimension)`` float32 array of unit rows."""
        raise NotImplementedError

    @staticmethod
    def l2_normalise(matrix) -> np.ndarray:
        matrix = np.asarray(matrix, dtype=np.float32)
        if matrix.ndim == 1:
            matrix = matrix[None, :]
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return matrix / norms
