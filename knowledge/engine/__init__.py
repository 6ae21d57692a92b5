"""The retrieval engine: normalisation, lexical features, the in-memory hybrid index, calibration.

Python over numpy and rjieba; knows nothing of Django. ``knowledge.selectors``
feeds it items and stored vectors, ``knowledge.services`` stores what it embeds.
"""

from .index import Hit, KBIndex, item_phrasings

__all__ = ["Hit", "KBIndex", "item_phrasings"]
