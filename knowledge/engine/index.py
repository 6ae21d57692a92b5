"""In-memory FAQ index: several phrasings per item, a dense and a lexical signal fused per query.

* Dense: cosine of the query embedding with each phrasing, after subtracting the
  index's mean vector ("all-but-the-mean": USE vectors share a large common
  direction that makes every cosine look alike). An item scores
  (best phrasing + 0.5 × mean of its phrasings) / 1.5, so one lucky phrasing
  counts but an item whose phrasings all agree counts more.
* Lexical: BM25 (k1 1.2, b 0.75) over one bag per item of the character 1–2-grams
  and jieba words of all its phrasings.
* Fusion: 0.7 × z(dense) + 0.3 × z(lexical), the z-scores taken over the items of
  the index, so the two signals are on one scale whatever the corpus.
* Above ``coarse_rows`` phrasings, a 128-d projection of item centroids scores
  every item and only the best 600 (plus the 150 best lexical ones) are rescored
  exactly, which keeps search p95 low at 100k items.
* Tiny indexes (a new shop, a demo) make z-scores meaningless — with two items
  they are always ±1, so any query would look like a confident match. Below
  ``min_items_for_statistics`` items, hidden *reference* items (generic
  customer-service phrasings) join the statistics and may be the runner-up
  that the top hit's margin is measured against; they are never returned.

* Whole item: each item also has one vector of its whole text (question, answer
  and keywords together). It takes no part in the ranking; the confidence reads
  how far the top item's whole text is closer to the query than its nearest
  competitors' (raw cosine, so it means the same in every shop). A single
  phrasing can match a query that the item as a whole does not answer (a
  keyword list, a near-miss question); the whole text says so.

Each hit carries the features the calibration reads; see ``search``.
The weights and the method were chosen on ATEC main and the e-commerce set (so
hit@1 on those is in-sample for them; the ATEC test split is not); README's
knowledge section says what else was measured and did not carry.
"""

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .normalize import is_smalltalk, normalize_text

DEFAULT_CONFIG = {
    "dense_weight": 0.7,  # weight of z(dense) in the fused score; lexical gets the rest
    "dense_mean_weight": 0.5,  # item dense = (max + w · mean over its phrasings) / (1 + w)
    "bm25_k1": 1.2,
    "bm25_b": 0.75,
    "coarse_rows": 16000,  # above this many phrasings, use the projected coarse pass
    "coarse_dim": 128,
    "coarse_candidates": 600,
    "min_items_for_statistics": 30,  # below this many items, reference items join the z-score statistics
    "dense_column_items": 20000,  # from this many items, very frequent lexical features become dense columns
}
# What the fixed weights above were chosen on: hit@1 and MRR on these sets are in-sample for them.
WEIGHTS_CHOSEN_ON = "the ATEC main split and the e-commerce evaluation set"
# With no runner-up at all, the lone item leads by this many fused z-units.
LONE_ITEM_MARGIN = 3.0
# ... and its whole text by this much cosine.
LONE_ITEM_COSINE_MARGIN = 1.0
# The whole-item margin is measured against this many best items of the fused ranking:
# on the evaluation sets the best other whole text is always among them.
ITEM_MARGIN_CANDIDATES = 20
WHOLE_ITEM = "item"  # the kind of the whole-item text among an item's phrasings


def whole_item_text(*, question, keywords=(), answer=""):
    """The question, answer and keywords of an item as one text, a line each."""
    parts = [question, answer if answer != question else "", " ".join(k for k in keywords or [] if k)]
    return "\n".join(part for part in parts if part and part.strip())


def item_phrasings(*, question, similar=(), keywords=(), category="", answer=""):
    """The texts indexed for one FAQ item, as ``[(text, kind)]``, duplicates dropped.

    Besides the question and its similar phrasings, the keywords (alone, with the
    question, with the category) and the answer are indexed: buyers often ask
    with the words the answer uses rather than the question's. The last one, of
    kind ``item``, is the whole item (``whole_item_text``), which only the
    confidence reads; an item with nothing but a question has none (its question
    stands for it).
    """
    out = [(question, "question")]
    out += [(s, "similar") for s in similar or []]
    keywords = [k for k in keywords or [] if k]
    if keywords:
        joined = " ".join(keywords)
        out.append((joined, "keywords"))
        out.append((question + " " + joined, "question"))
        if category:
            out.append((category + " " + joined, "keywords"))
    if answer and answer != question:
        out.append((answer, "answer"))
    out.append((whole_item_text(question=question, keywords=keywords, answer=answer), WHOLE_ITEM))
    seen, unique = set(), []
    for text, kind in out:
        if text and text.strip() and text not in seen:
            seen.add(text)
            unique.append((text, kind))
    return unique


@dataclass
class Hit:
    item_id: object
    score: float  # fused, in z-score units
    dense: float  # item dense score (centred cosine)
    lexical: float  # BM25 against the item's bag of phrasings
    phrasing: str  # the item's phrasing closest to the query (dense)
    phrasing_kind: str
    features: dict = field(default_factory=dict)


class KBIndex:
    """Items added with ``add`` (and ``add_reference``) are searchable after ``build`` (run lazily)."""

    def __init__(self, dense_embedder, lexical_encoder, config=None):
        self.dense = dense_embedder
        self.lex = lexical_encoder
        self.cfg = {**DEFAULT_CONFIG, **(config or {})}
        self._items = {}  # item id -> {"phrasings": [(text, kind)], "vecs": array, "feats": Counter}
        self._reference = {}  # the same, for hidden reference items
        self._dirty = True
        self.build_seconds = 0.0

    # ------------------------------------------------------------ building
    def _entry(self, phrasings, vectors):
        """An item's searchable phrasings, their vectors and lexical bag, and its whole-item vector.

        The ``item`` phrasing (the whole item) is kept apart: it is not ranked and
        adds nothing to the bag (its words are the other phrasings'). Without one,
        the first phrasing (the question) stands for the whole item.
        """
        kept = [n for n, (t, _) in enumerate(phrasings) if t and t.strip()]
        phrasings = [phrasings[n] for n in kept]
        if vectors is None:
            vectors = self.dense.embed([t for t, _ in phrasings]) if phrasings else None
        else:
            vectors = np.asarray(vectors, np.float32)[kept]
        ranked = [n for n, (_, kind) in enumerate(phrasings) if kind != WHOLE_ITEM]
        if not ranked:
            raise ValueError("an item needs at least one phrasing")
        whole = next((n for n, (_, kind) in enumerate(phrasings) if kind == WHOLE_ITEM), None)
        vectors = np.asarray(vectors, np.float32)
        ranked_vectors = vectors[ranked]
        # A copy of the whole-item row, or a view of the question's: the array given is not kept alive.
        item_vector = vectors[whole].copy() if whole is not None else ranked_vectors[0]
        phrasings = [phrasings[n] for n in ranked]
        feats = Counter()
        for text, _ in phrasings:
            feats.update(self.lex.features(normalize_text(text), normalized=True))
        feature_ids, counts = self.lex.vocabulary.encode(feats)
        return {"phrasings": phrasings, "vecs": ranked_vectors, "item_vec": item_vector, "feats": feats,
                "feature_ids": feature_ids, "feature_counts": counts}

    def add(self, item_id, phrasings, vectors=None):
        """``phrasings``: ``[(text, kind)]`` as ``item_phrasings`` gives them; ``vectors``: their
        embeddings, in the same order (made here when None)."""
        self._items[item_id] = self._entry(phrasings, vectors)
        self._dirty = True

    def add_reference(self, key, phrasings, vectors=None):
        """A hidden item that only steadies the statistics of a small index."""
        self._reference[key] = self._entry(phrasings, vectors)
        self._dirty = True

    def adopt(self, other: "KBIndex", item_ids):
        """Take ``item_ids`` from another index as they are (their entries are never changed in place)."""
        for item_id in item_ids:
            self._items[item_id] = other._items[item_id]
        self._dirty = True

    def remove(self, item_id):
        self._items.pop(item_id, None)
        self._dirty = True

    def __len__(self):
        return len(self._items)

    def build(self):
        started = time.perf_counter()
        entries = list(self._items.items())
        if len(entries) < self.cfg["min_items_for_statistics"]:
            entries += [((None, key), entry) for key, entry in self._reference.items()]
        self._ids = [key for key, _ in entries]
        self._visible = np.array([i < len(self._items) for i in range(len(entries))], dtype=bool)
        self._n_visible = int(self._visible.sum())
        n = self._n = len(entries)
        rows = [entry["vecs"] for _, entry in entries]
        texts = [text for _, entry in entries for text, _ in entry["phrasings"]]
        kinds = [kind for _, entry in entries for _, kind in entry["phrasings"]]
        sizes = np.fromiter((len(entry["phrasings"]) for _, entry in entries), np.int64, n)
        dim = rows[0].shape[1] if rows else (self.dense.dimension or 1)
        matrix = np.concatenate(rows) if rows else np.zeros((0, dim), np.float32)
        self._owner = np.repeat(np.arange(n, dtype=np.int64), sizes)
        self._seg = np.flatnonzero(np.r_[True, self._owner[1:] != self._owner[:-1]]) if n else np.zeros(0, np.int64)
        self._cnt = np.diff(np.r_[self._seg, len(self._owner)]).astype(np.float32)
        self._texts, self._kinds = texts, kinds
        self._mu = matrix.mean(0) if len(matrix) else np.zeros(dim, np.float32)
        centred = matrix - self._mu
        centred /= np.maximum(np.linalg.norm(centred, axis=1), 1e-9)[:, None]
        self._P = np.ascontiguousarray(centred, dtype=np.float32)
        # Only the leading items' whole-item vectors are read per query: kept by reference, not
        # stacked into one more matrix as large as the index.
        self._item_vecs = [entry["item_vec"] for _, entry in entries]
        self._build_coarse()
        self._build_lexical([entry for _, entry in entries])
        self._dirty = False
        self.build_seconds = time.perf_counter() - started

    def _build_coarse(self):
        self._proj = None
        if len(self._P) <= self.cfg["coarse_rows"]:
            return
        sample = self._P[:: max(1, len(self._P) // 20000)]
        _, eigenvectors = np.linalg.eigh(sample.T @ sample)  # d × d: cheap, unlike an SVD of the sample
        self._proj = np.ascontiguousarray(eigenvectors[:, ::-1][:, : self.cfg["coarse_dim"]], dtype=np.float32)
        # Projecting before averaging (the same thing, it is linear) sums 128 columns instead of 512.
        projected = self._P @ self._proj
        self._coarse = np.ascontiguousarray(np.add.reduceat(projected, self._seg) / self._cnt[:, None],
                                            dtype=np.float32)

    def _build_lexical(self, entries):
        """BM25 postings of every feature, built from the items' numbered bags with array operations.

        An item's bag is numbered once, when it is added; a rebuild after one edit
        only concatenates and sorts, which keeps it fast in large indexes.
        """
        n = len(entries)
        k1, b = self.cfg["bm25_k1"], self.cfg["bm25_b"]
        sizes = np.fromiter((len(entry["feature_ids"]) for entry in entries), np.int64, n)
        ids = np.concatenate([entry["feature_ids"] for entry in entries]) if n else np.zeros(0, np.int64)
        counts = np.concatenate([entry["feature_counts"] for entry in entries]) if n else np.zeros(0)
        rows = np.repeat(np.arange(n, dtype=np.int32), sizes)
        vocabulary_size = int(ids.max()) + 1 if len(ids) else 0
        df = np.bincount(ids, minlength=vocabulary_size)
        present = df > 0
        idf = np.zeros(vocabulary_size)
        idf[present] = np.log(1 + (n - df[present] + 0.5) / (df[present] + 0.5))
        self._idf = idf  # by feature id; 0 for features absent from this index
        self._maxidf = float(idf[present].max()) if present.any() else 1.0
        lengths = np.bincount(rows, weights=counts, minlength=n)
        average = float(lengths.mean()) if n and lengths.any() else 1.0
        norms = k1 * (1 - b + b * lengths / average)
        weights = counts * (k1 + 1) / (counts + norms[rows]) * idf[ids]
        order = np.argsort(ids, kind="stable")
        self._post_rows = rows[order]
        self._post_weights = weights[order].astype(np.float32)
        self._post_start = np.searchsorted(ids[order], np.arange(vocabulary_size + 1))
        # In big indexes a feature found in more than 1/20 of the items is kept as a
        # dense column: adding a vector beats scattering tens of thousands of postings.
        self._dense_cols = {}
        if n >= self.cfg["dense_column_items"]:
            for feature_id in np.flatnonzero(df > n // 20):
                start, end = self._post_start[feature_id], self._post_start[feature_id + 1]
                column = np.zeros(n, np.float32)
                column[self._post_rows[start:end]] = self._post_weights[start:end]
                self._dense_cols[int(feature_id)] = column

    def _feature_idf(self, feature) -> float:
        """IDF of a query feature in this index; unseen features count as the rarest."""
        feature_id = self.lex.vocabulary.get(feature)
        if feature_id is None or feature_id >= len(self._idf) or self._idf[feature_id] == 0:
            return self._maxidf
        return float(self._idf[feature_id])

    # ------------------------------------------------------------ scoring
    def _item_dense(self, row_scores, starts, counts):
        best = np.maximum.reduceat(row_scores, starts)
        w = self.cfg["dense_mean_weight"]
        return (best + w * np.add.reduceat(row_scores, starts) / counts) / (1.0 + w)

    def _dense_scores(self, qc, extra_candidates=None):
        """Dense score of every item: exact, or coarse with the best candidates rescored exactly."""
        if self._proj is None:
            return self._item_dense(self._P @ qc, self._seg, self._cnt)
        item = self._coarse @ (qc @ self._proj)
        c = min(self.cfg["coarse_candidates"], self._n - 1)
        candidates = np.argpartition(-item, c)[:c]
        if extra_candidates is not None:
            candidates = np.union1d(candidates, extra_candidates)
        starts, counts = self._seg[candidates], self._cnt[candidates].astype(np.int64)
        local = np.r_[0, np.cumsum(counts)[:-1]]
        rows = np.repeat(starts - local, counts) + np.arange(int(counts.sum()))
        item[candidates] = self._item_dense(self._P[rows] @ qc, local, counts)
        return item

    def _lex_scores(self, qfeats):
        rows, weights, columns = [], [], []
        vocabulary, known = self.lex.vocabulary, len(self._post_start) - 1
        for f in qfeats:
            feature_id = vocabulary.get(f)
            if feature_id is None or feature_id >= known:
                continue
            if feature_id in self._dense_cols:
                columns.append(self._dense_cols[feature_id])
                continue
            start, end = self._post_start[feature_id], self._post_start[feature_id + 1]
            if start < end:
                rows.append(self._post_rows[start:end])
                weights.append(self._post_weights[start:end])
        if rows:
            out = np.bincount(np.concatenate(rows), weights=np.concatenate(weights), minlength=self._n)
            out = out.astype(np.float32)
        else:
            out = np.zeros(self._n, np.float32)
        for column in columns:
            out += column
        return out

    def search(self, query, k=5, query_vector=None):
        """The ``k`` best items for ``query``, best first, each with its signals.

        Every hit carries the features the calibration reads (``features``):
        ``margin`` is its fused score minus the best *other* item's (positive only
        for the top hit); ``item_margin`` the cosine of the query with its whole
        text minus the best such cosine among the other leading items of the fused
        ranking (``ITEM_MARGIN_CANDIDATES``); ``qcov`` / ``qcov_plain`` the
        IDF-weighted / plain share of the query's lexical features found in the
        item; ``smalltalk`` whether the query is only greetings or thanks.
        """
        if self._dirty:
            self.build()
        if self._n_visible == 0:
            return []
        qn = normalize_text(query)
        qv = self.dense.embed([query])[0] if query_vector is None else np.asarray(query_vector, np.float32)
        qc = qv - self._mu
        qc = (qc / max(float(np.linalg.norm(qc)), 1e-9)).astype(np.float32)
        qf = self.lex.features(qn, normalized=True)
        lex = self._lex_scores(qf)
        lex_candidates = None
        if self._proj is not None:
            c = min(self.cfg["coarse_candidates"] // 4, self._n - 1)
            lex_candidates = np.argpartition(-lex, c)[:c]
        dense = self._dense_scores(qc, lex_candidates)
        a = self.cfg["dense_weight"]
        zd = (dense - dense.mean()) / (dense.std() + 1e-6)
        zl = (lex - lex.mean()) / (lex.std() + 1e-6)
        fused = a * zd + (1 - a) * zl
        kk = min(max(k, 2), self._n_visible)
        # The leading items of the fused ranking, reference items included, best first: the
        # runner-up and the whole-item competitors are among them.
        count = min(max(kk, ITEM_MARGIN_CANDIDATES), self._n)
        leading = np.argpartition(-fused, count - 1)[:count] if count < self._n else np.arange(self._n)
        leading = leading[np.argsort(-fused[leading])]
        if self._n_visible == self._n:
            top = leading[:kk]
        else:
            ranked = np.where(self._visible, fused, -np.inf)
            top = np.argpartition(-ranked, kk - 1)[:kk] if kk < self._n else np.arange(self._n)
            top = top[np.argsort(-ranked[top])][:kk]
            leading = np.union1d(leading, top)
        best = float(fused[top[0]])
        # The runner-up may be a reference item: when a generic phrasing fits the
        # query better than the shop's second item, the top item's lead is smaller.
        rivals = leading[leading != top[0]]
        second = float(fused[rivals].max()) if len(rivals) else best - LONE_ITEM_MARGIN
        leading = leading.tolist()
        cosines = np.stack([self._item_vecs[j] for j in leading]) @ qv.astype(np.float32)
        whole = dict(zip(leading, cosines.tolist(), strict=True))
        smalltalk = float(is_smalltalk(query))
        query_idf = {f: self._feature_idf(f) for f in qf}
        total_idf = sum(query_idf.values()) or 1.0
        hits = []
        for rank, j in enumerate(top[:k]):
            start, end = self._seg[j], self._seg[j] + int(self._cnt[j])
            closest = start + int(np.argmax(self._P[start:end] @ qc))
            item_feats = self._items[self._ids[j]]["feats"]
            closer = [cosine for candidate, cosine in whole.items() if candidate != j]
            features = {
                "smalltalk": smalltalk,
                "fused": float(fused[j]),
                "margin": float(fused[j]) - (second if rank == 0 else best),
                "item_margin": whole[int(j)] - max(closer) if closer else LONE_ITEM_COSINE_MARGIN,
                "qcov": sum(idf for f, idf in query_idf.items() if f in item_feats) / total_idf,
                "qcov_plain": sum(1 for f in qf if f in item_feats) / max(len(qf), 1),
                "dense": float(dense[j]),
                "lexical": float(lex[j]),
                "zd": float(zd[j]),
                "zl": float(zl[j]),
            }
            hits.append(Hit(self._ids[j], float(fused[j]), float(dense[j]), float(lex[j]), self._texts[closest],
                            self._kinds[closest], features=features))
        return hits
