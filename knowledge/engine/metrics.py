"""Metrics: hit@k, MRR, ECE, threshold tables, latency percentiles."""
import time

import numpy as np


def run_queries(search_fn, queries, k=5):
    """search_fn(query_row) -> list[Hit].  Returns per-query records."""
    recs = []
    for q in queries:
        t = time.perf_counter()
        hits = search_fn(q)
        ms = (time.perf_counter() - t) * 1000
        ids = [h.item_id for h in hits[:k]]
        exp = q.get("expected_id")
        recs.append({"query": q["query"], "expected": exp, "ids": ids,
                     "correct": exp is not None and bool(ids) and ids[0] == exp,
                     "features": hits[0].features if hits else None, "ms": ms})
    return recs


def ece(conf, correct, bins=10):
    conf = np.asarray(conf, float); correct = np.asarray(correct, float)
    edges = np.linspace(0, 1, bins + 1)
    e = 0.0
    for i in range(bins):
        m = (conf >= edges[i]) & ((conf < edges[i + 1]) if i < bins - 1 else (conf <= 1))
        if m.any():
            e += m.mean() * abs(conf[m].mean() - correct[m].mean())
    return float(e)


def threshold_row(conf, recs, t):
    conf = np.asarray(conf)
    ins = np.array([r["expected"] is not None for r in recs])
    cor = np.array([r["correct"] for r in recs])
    sent = conf >= t
    return {"threshold": t,
            "precision": float(cor[sent].mean()) if sent.any() else float("nan"),
            "coverage": float((sent & ins).sum() / max(ins.sum(), 1)),
            "oos_sent": float((sent & ~ins).sum() / max((~ins).sum(), 1)) if (~ins).any() else float("nan"),
            "n_sent": int(sent.sum())}


def best_coverage(conf, recs, min_precision=0.98):
    best = {"threshold": None, "coverage": 0.0, "precision": float("nan"), "oos_sent": 0.0}
    for t in sorted(set(np.round(conf, 4))):
        r = threshold_row(conf, recs, t)
        if r["n_sent"] >= 1 and r["precision"] >= min_precision and r["coverage"] > best["coverage"]:
            best = r
    return best


def summarize(recs, conf=None, thresholds=(0.8, 0.9, 0.95)):
    ins = [r for r in recs if r["expected"] is not None]
    out = {"n": len(recs), "n_in_scope": len(ins),
           "hit@1": float(np.mean([r["ids"][:1] == [r["expected"]] for r in ins])),
           "hit@5": float(np.mean([r["expected"] in r["ids"][:5] for r in ins])),
           "mrr": float(np.mean([1.0 / (r["ids"].index(r["expected"]) + 1) if r["expected"] in r["ids"] else 0.0 for r in ins]))}
    ms = np.array([r["ms"] for r in recs])
    out["p50_ms"], out["p95_ms"] = float(np.percentile(ms, 50)), float(np.percentile(ms, 95))
    if conf is not None:
        conf = np.asarray(conf)
        out["ece"] = ece(conf, [r["correct"] for r in recs])
        out["mean_conf"] = float(conf.mean()); out["accuracy_top1_all"] = float(np.mean([r["correct"] for r in recs]))
        out["thresholds"] = [threshold_row(conf, recs, t) for t in thresholds]
        out["best@p>=0.98"] = best_coverage(conf, recs)
        oos = [c for c, r in zip(conf, recs) if r["expected"] is None]
        out["oos_mean_conf"] = float(np.mean(oos)) if oos else float("nan")
    return out
