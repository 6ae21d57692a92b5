"""FAQ knowledge base: items, vectors, hybrid search with a calibrated confidence."""


def search(shop, text: str, k: int = 5):
    """``knowledge.search(shop, text, k)``: see ``knowledge.selectors.knowledge_search``."""
    from .selectors import knowledge_search

    return knowledge_search(shop=shop, text=text, k=k)
