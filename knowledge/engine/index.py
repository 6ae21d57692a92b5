"""In-memory FAQ index: several phrasings per item, a dense (embedding) and a
lexical (BM25 over an item-level bag of char 1-2-grams + jieba words) signal,
fused per query by z-scores.

Statistics kept: document frequencies (a Counter, updated on add/remove) and the
mean dense vector.  Both are recomputed lazily in O(total postings) / O(n*d)
on the first search after a change, so per-shop indexes can be rebuilt freely.
Confidence features (see calibration.py) are z-scores/margins and raw cosines,
which do not depend on corpus size.
"""
import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from .normalize import is_smalltalk, normalize_text

DEFAULT_CONFIG = {
    "dense_weight": 0.7,          # weight of z(dense) in the fused score; lexical gets 1-w
    "center_dense": True,         # subtract the index mean vector ("all-but-the-mean")
    "kind_weights": {"question": 1.0, "similar": 1.0, "keywords": 1.0, "answer": 1.0},
    "lexical_kinds": ["question", "similar", "keywords", "answer"],
    "dense_mean_weight": 0.5,     # item dense = max + w * mean over its phrasings (renormalised)
    "remove_pcs": 0,              # also project out this many top principal directions
    "lexical_scoring": "bm25",   # "tfidf" (cosine) or "bm25"
    "bm25_k1": 1.2, "bm25_b": 0.75,
    "coarse_rows": 60000,         # above this many phrasings, use a PCA-128 coarse pass
    "coarse_dim": 128,
    "coarse_candidates": 600,
}


def item_phrasings(*, question, similar=(), keywords=(), category="", answer=""):
    """The texts indexed for one FAQ item, as ``[(text, kind)]``, duplicates dropped.

    Besides the question and its similar phrasings, the keywords (alone, with the
    question, with the category) and the answer are indexed: buyers often ask
    with the words the answer uses rather than the question's.
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
    seen, unique = set(), []
    for text, kind in out:
        if text and text.strip() and text not in seen:
            seen.add(text)
            unique.append((text, kind))
    return unique


@dataclass
class Hit:
    item_id: object
    score: float                 # fused (z-score space)
    dense: float                 # best phrasing cosine (centred if center_dense)
    lexical: float               # TF-IDF cosine against the item's bag of phrasings
    phrasing: str                # phrasing with the best dense score
    phrasing_kind: str
    confidence: float = None
    features: dict = field(default_factory=dict)


class KBIndex:
    def __init__(self, dense_embedder, lexical_encoder, config=None):
        self.dense = dense_embedder
        self.lex = lexical_encoder
        self.cfg = dict(DEFAULT_CONFIG)
        if config:
            self.cfg.update(config)
        self._items = {}          # item_id -> dict(phrasings=[(text, kind)], vecs=ndarray, feats=Counter)
        self._dirty = True

    # ------------------------------------------------------------ building
    def add(self, item_id, phrasings, vectors=None):
        """phrasings: list of (text, kind) where kind in question/similar/keywords/answer."""
        phrasings = [(t, k) for t, k in phrasings if t and t.strip()]
        if not phrasings:
            raise ValueError("item needs at least one phrasing")
        norm = [normalize_text(t) for t, _ in phrasings]
        if vectors is None:
            vectors = self.dense.embed([t for t, _ in phrasings])
        feats = Counter()
        for (t, k), n in zip(phrasings, norm):
            if k in self.cfg["lexical_kinds"]:
                feats.update(self.lex.features(n, normalized=True))
        self._items[item_id] = {"phrasings": phrasings, "vecs": np.asarray(vectors, np.float32), "feats": feats}
        self._dirty = True

    def add_many(self, items, batch=256):
        """items: iterable of (item_id, phrasings).  Embeds in batches."""
        items = list(items)
        for s in range(0, len(items), batch):
            chunk = items[s:s + batch]
            flat = [t for _, ph in chunk for t, _ in ph if t and t.strip()]
            vecs = self.dense.embed(flat)
            o = 0
            for iid, ph in chunk:
                n = len([1 for t, _ in ph if t and t.strip()])
                self.add(iid, ph, vecs[o:o + n])
                o += n

    def remove(self, item_id):
        self._items.pop(item_id, None)
        self._dirty = True

    def __len__(self):
        return len(self._items)

    def build(self):
        t0 = time.perf_counter()
        ids = list(self._items)
        self._ids = ids
        n = len(ids)
        rows, owner, texts, kinds, kw = [], [], [], [], []
        for j, iid in enumerate(ids):
            it = self._items[iid]
            rows.append(it["vecs"])
            for t, k in it["phrasings"]:
                owner.append(j); texts.append(t); kinds.append(k)
                kw.append(self.cfg["kind_weights"].get(k, 1.0))
        P = np.concatenate(rows) if rows else np.zeros((0, self.dense.dimension or 1), np.float32)
        self._owner = np.asarray(owner, np.int64)
        self._seg = np.flatnonzero(np.r_[True, self._owner[1:] != self._owner[:-1]]) if n else np.zeros(0, np.int64)
        self._texts, self._kinds = texts, kinds
        self._cnt = np.diff(np.r_[self._seg, len(self._owner)]).astype(np.float32)
        self._kw = np.asarray(kw, np.float32)
        self._mu = P.mean(0) if (len(P) and self.cfg["center_dense"]) else np.zeros(P.shape[1], np.float32)
        Pc = P - self._mu
        self._pcs = None
        if self.cfg["remove_pcs"] and len(Pc) > 4 * self.cfg["remove_pcs"]:
            sample = Pc[:: max(1, len(Pc) // 20000)]
            _, _, vt = np.linalg.svd(sample, full_matrices=False)
            self._pcs = np.ascontiguousarray(vt[: self.cfg["remove_pcs"]], dtype=np.float32)
            Pc = Pc - (Pc @ self._pcs.T) @ self._pcs
        self._rownorm = np.maximum(np.linalg.norm(Pc, axis=1), 1e-9).astype(np.float32)
        Pc /= self._rownorm[:, None]
        self._P = np.ascontiguousarray(Pc, dtype=np.float32)
        # coarse pass for very large indexes
        self._proj = None
        if len(P) > self.cfg["coarse_rows"]:
            sample = self._P[:: max(1, len(P) // 20000)]
            _, _, vt = np.linalg.svd(sample, full_matrices=False)
            self._proj = np.ascontiguousarray(vt[: self.cfg["coarse_dim"]].T, dtype=np.float32)
            cent = np.add.reduceat(self._P * self._kw[:, None], self._seg) / self._cnt[:, None]
            self._Ccoarse = np.ascontiguousarray(cent @ self._proj, dtype=np.float32)
            del cent
        # lexical inverted index with IDF from the current items
        df = Counter()
        for iid in ids:
            df.update(self._items[iid]["feats"].keys())
        self._n = n
        self._idf = {f: math.log((n + 1) / (c + 1)) + 1.0 for f, c in df.items()}
        post = defaultdict(lambda: ([], []))
        if self.cfg["lexical_scoring"] == "bm25":
            k1, b = self.cfg["bm25_k1"], self.cfg["bm25_b"]
            self._idf = {f: math.log(1 + (n - c + 0.5) / (c + 0.5)) for f, c in df.items()}
            dl = np.array([sum(self._items[i]["feats"].values()) for i in ids], np.float64)
            avg = dl.mean() if n else 1.0
            for j, iid in enumerate(ids):
                K = k1 * (1 - b + b * dl[j] / avg)
                for f, c in self._items[iid]["feats"].items():
                    p = post[f]; p[0].append(j); p[1].append(c * (k1 + 1) / (c + K))
            self._post = {f: (np.asarray(r, np.int32), np.asarray(w, np.float32)) for f, (r, w) in post.items()}
            # very frequent features in big indexes: keep a dense column (a vector add is
            # cheaper than scattering tens of thousands of postings)
            self._dense_cols = {}
            if n >= 20000:
                for f, (r, w) in self._post.items():
                    if len(r) > n // 20:
                        col = np.zeros(n, np.float32); col[r] = w
                        self._dense_cols[f] = col
        else:
            norms = np.zeros(n, np.float64)
            for j, iid in enumerate(ids):
                for f, c in self._items[iid]["feats"].items():
                    w = 1.0 + math.log(c)
                    p = post[f]; p[0].append(j); p[1].append(w)
                    norms[j] += (w * self._idf[f]) ** 2
            norms = np.sqrt(np.maximum(norms, 1e-12))
            self._post = {f: (np.asarray(r, np.int32), np.asarray(w, np.float32) / norms[np.asarray(r)].astype(np.float32))
                          for f, (r, w) in post.items()}
        self._maxidf = max(self._idf.values()) if self._idf else 1.0
        self._dirty = False
        self.build_seconds = time.perf_counter() - t0

    # ------------------------------------------------------------ search
    def _query_dense(self, qv):
        qc = qv - self._mu
        if self._pcs is not None:
            qc = qc - (self._pcs @ qc) @ self._pcs
        return (qc / max(float(np.linalg.norm(qc)), 1e-9)).astype(np.float32)

    def _item_exact(self, items, qc):
        """Exact item-level dense scores for a subset of items (and their row scores)."""
        starts, cnts = self._seg[items], self._cnt[items].astype(np.int64)
        local = np.r_[0, np.cumsum(cnts)[:-1]]
        rows = np.repeat(starts - local, cnts) + np.arange(int(cnts.sum()))
        r = (self._P[rows] @ qc) * self._kw[rows]
        item = np.maximum.reduceat(r, local)
        mw = self.cfg["dense_mean_weight"]
        if mw:
            item = (item + mw * np.add.reduceat(r, local) / cnts) / (1.0 + mw)
        return item

    def _dense_scores(self, qc, extra_candidates=None):
        """Item-level dense scores for all items.  Exact for small indexes; for
        large ones a PCA-128 centroid pass scores every item and the top
        `coarse_candidates` (plus lexical candidates) are rescored exactly."""
        if self._proj is None:
            row = (self._P @ qc) * self._kw
            item = np.maximum.reduceat(row, self._seg)
            mw = self.cfg["dense_mean_weight"]
            if mw:
                item = (item + mw * np.add.reduceat(row, self._seg) / self._cnt) / (1.0 + mw)
            return item
        item = self._Ccoarse @ (qc @ self._proj)
        c = min(self.cfg["coarse_candidates"], self._n - 1)
        cand = np.argpartition(-item, c)[:c]
        if extra_candidates is not None:
            cand = np.union1d(cand, extra_candidates)
        item[cand] = self._item_exact(cand, qc)
        return item

    def _lex_scores(self, qfeats):
        if self.cfg["lexical_scoring"] == "bm25":
            rs, ws, dc = [], [], []
            for f in qfeats:
                if f in self._dense_cols:
                    dc.append(f)
                elif f in self._post:
                    r, pw = self._post[f]
                    rs.append(r); ws.append(pw * self._idf[f])
            if rs:
                out = np.bincount(np.concatenate(rs), weights=np.concatenate(ws), minlength=self._n).astype(np.float32)
            else:
                out = np.zeros(self._n, np.float32)
            for f in dc:
                out += self._dense_cols[f] * np.float32(self._idf[f])
            return out
        qw = {}
        for f, c in qfeats.items():
            idf = self._idf.get(f)
            if idf is not None:
                qw[f] = (1.0 + math.log(c)) * idf
        # query norm includes unseen features (with max idf) so coverage matters
        maxidf = math.log(self._n + 1) + 1.0
        qn = math.sqrt(sum(((1.0 + math.log(c)) * self._idf.get(f, maxidf)) ** 2 for f, c in qfeats.items())) or 1.0
        if not qw:
            return np.zeros(self._n, np.float32)
        rs, ws = [], []
        for f, w in qw.items():
            r, pw = self._post[f]
            rs.append(r); ws.append(pw * (w * self._idf[f] / qn))
        return np.bincount(np.concatenate(rs), weights=np.concatenate(ws), minlength=self._n).astype(np.float32)

    def search(self, query, k=5, query_vector=None):
        """The ``k`` best items for ``query``, best first, each with its signals.

        Every hit carries the features the calibration reads (``features``):
        ``margin`` is its fused score minus the best *other* item's (positive only
        for the top hit), ``qcov`` / ``qcov_plain`` the IDF-weighted / plain share
        of the query's lexical features found in the item, ``smalltalk`` whether
        the query is only greetings or thanks.
        """
        if self._dirty:
            self.build()
        if self._n == 0:
            return []
        qn = normalize_text(query)
        qv = self.dense.embed([query])[0] if query_vector is None else query_vector
        qc = self._query_dense(qv)
        qf = self.lex.features(qn, normalized=True)
        lex = self._lex_scores(qf)
        lex_cand = None
        if self._proj is not None:
            c = min(self.cfg["coarse_candidates"] // 4, self._n - 1)
            lex_cand = np.argpartition(-lex, c)[:c]
        d = self._dense_scores(qc, lex_cand)
        a = self.cfg["dense_weight"]
        zd = (d - d.mean()) / (d.std() + 1e-6)
        zl = (lex - lex.mean()) / (lex.std() + 1e-6)
        fused = a * zd + (1 - a) * zl
        kk = min(max(k, 2), self._n)
        top = np.argpartition(-fused, kk - 1)[:kk] if kk < self._n else np.arange(self._n)
        top = top[np.argsort(-fused[top])]
        best = float(fused[top[0]])
        # A lone item has no runner-up: treat it as 3 z-units ahead, a clear lead.
        second = float(fused[top[1]]) if len(top) > 1 else best - 3.0
        smalltalk = float(is_smalltalk(query))
        maxidf = self._maxidf
        total_idf = sum(self._idf.get(f, maxidf) for f in qf) or 1.0
        hits = []
        for rank, j in enumerate(top[:k]):
            s0, e0 = self._seg[j], self._seg[j] + int(self._cnt[j])
            b = s0 + int(np.argmax(self._P[s0:e0] @ qc))
            item_feats = self._items[self._ids[j]]["feats"]
            features = {
                "smalltalk": smalltalk,
                "fused": float(fused[j]),
                "margin": float(fused[j]) - (second if rank == 0 else best),
                "qcov": sum(self._idf.get(f, maxidf) for f in qf if f in item_feats) / total_idf,
                "qcov_plain": sum(1 for f in qf if f in item_feats) / max(len(qf), 1),
                "dense": float(d[j]),
                "lexical": float(lex[j]),
                "zd": float(zd[j]),
                "zl": float(zl[j]),
            }
            hits.append(Hit(self._ids[j], float(fused[j]), float(d[j]), float(lex[j]), self._texts[b],
                            self._kinds[b], features=features))
        return hits
