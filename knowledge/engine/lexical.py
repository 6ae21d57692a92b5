"""Lexical features of a text: character 1–2-grams plus jieba words (two characters or more).

Character n-grams survive typos and missing word boundaries in buyer chat;
jieba words add weight to whole terms ("退款", "发货"). The index turns the
counts into BM25 scores itself.

Words come from rjieba (jieba's dictionary and algorithm in Rust: the same
words, about ten times faster, loaded in a fifth of a second rather than two),
without the HMM that guesses words missing from the dictionary: the character
bigrams already match those, and retrieval figures are the same without it.
Segmentation was most of a large index's cold build.
"""

import functools
import re
import threading
from collections import Counter

import numpy as np

from .normalize import normalize_text

_PUNCT = re.compile(r"[\s,，。.!！?？~～、…:：;；\"'“”‘’()（）【】\[\]<>《》*/\\|-]+")


@functools.cache
def _segmenter():
    """rjieba, imported on first use: its dictionary loads then, not when Django starts."""
    import rjieba

    return rjieba


class FeatureVocabulary:
    """Numbers features so that an index scores them with arrays instead of dictionaries.

    One per encoder, shared by every index built with it (an index adopting another's
    items keeps their numbers); it only grows.
    """

    def __init__(self):
        self._ids: dict[str, int] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._ids)

    def get(self, feature: str) -> int | None:
        return self._ids.get(feature)

    def encode(self, counts: Counter) -> tuple[np.ndarray, np.ndarray]:
        """``(feature ids, counts)`` of a bag of features, in the bag's order."""
        ids = self._ids
        if any(feature not in ids for feature in counts):
            with self._lock:
                for feature in counts:
                    if feature not in ids:
                        ids[feature] = len(ids)
        return (np.fromiter((ids[feature] for feature in counts), np.int64, len(counts)),
                np.fromiter(counts.values(), np.float64, len(counts)))


class LexicalEncoder:
    """``features(text)`` → Counter of feature → count."""

    name = "char12+jieba-words"
    version = "2"

    def __init__(self, ngrams=(1, 2), words: bool = True):
        self.ngrams = tuple(ngrams)
        self.words = words
        self.vocabulary = FeatureVocabulary()

    def features(self, text: str, normalized: bool = False) -> Counter:
        text = text if normalized else normalize_text(text)
        counts = Counter()
        for segment in _PUNCT.split(text):
            for n in self.ngrams:
                # Counter.update counts an iterable in C: a cold build counts millions of these.
                counts.update(segment if n == 1 else [segment[i : i + n] for i in range(len(segment) - n + 1)])
        if self.words:
            words = (word.strip() for word in _segmenter().cut(_PUNCT.sub(" ", text), hmm=False))
            counts.update("w:" + word for word in words if len(word) >= 2)
        return counts
