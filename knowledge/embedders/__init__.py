"""Embedders, one module each over ``base.Embedder``; ``get_embedder()`` returns the configured one.

``KEFU_KNOWLEDGE_EMBEDDER`` (a setting, else the environment) names it: ``use`` (default,
offline) or ``provider`` (billing's router).
"""

import threading

from ..conf import knowledge_setting
from .base import Embedder

_instances: dict[str, Embedder] = {}
_lock = threading.Lock()


def _build(name: str) -> Embedder:
    if name == "use":
        from .use import USEEmbedder

        return USEEmbedder(threads=int(knowledge_setting("KEFU_KNOWLEDGE_USE_THREADS", 1)))
    if name == "provider":
        from .provider import ProviderEmbedder

        return ProviderEmbedder()
    from ..exceptions import KnowledgeError

    raise KnowledgeError(f"Unknown embedder {name!r} (use or provider).", code="unknown_embedder")


def get_embedder(name: str | None = None) -> Embedder:
    """The process-wide embedder called ``name`` (default: the configured one), built on first use."""
    name = name or knowledge_setting("KEFU_KNOWLEDGE_EMBEDDER", "use")
    with _lock:
        if name not in _instances:
            _instances[name] = _build(name)
        return _instances[name]


__all__ = ["Embedder", "get_embedder"]
