"""Retrieval and calibration metrics over per-query records.

A record is ``{"expected": id or None, "ids": [ranked ids], "confidence": c, "ms": latency}``;
``expected`` None marks an out-of-scope query (the right behaviour is not to answer).
"""

import math

import numpy as np

THRESHOLDS = (0.80, 0.90, 0.95, 0.98)


def is_correct(record) -> bool:
    return record["expected"] is not None and record["ids"][:1] == [record["expected"]]


def ece(confidences, correct, bins: int = 10) -> float:
    """Expected calibration error: bin by confidence, weight |mean confidence − accuracy| by bin size."""
    conf = np.asarray(confidences, float)
    hit = np.asarray(correct, float)
    if not len(conf):
        return math.nan
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for i in range(bins):
        upper = conf < edges[i + 1] if i < bins - 1 else conf <= 1
        in_bin = (conf >= edges[i]) & upper
        if in_bin.any():
            total += in_bin.mean() * abs(conf[in_bin].mean() - hit[in_bin].mean())
    return float(total)


def threshold_row(records, threshold: float) -> dict:
    """Auto-send at ``threshold``: ``precision`` is the share of sent answers that are right;
    ``coverage`` the share of all queries that are sent; ``out_of_scope_sent`` the share of
    out-of-scope queries that are sent (None when the set has none).
    """
    sent = [r for r in records if r["confidence"] >= threshold]
    out_of_scope = [r for r in records if r["expected"] is None]
    return {
        "threshold": threshold,
        "precision": (sum(is_correct(r) for r in sent) / len(sent)) if sent else None,
        "coverage": len(sent) / len(records) if records else None,
        "out_of_scope_sent": (sum(r["confidence"] >= threshold for r in out_of_scope) / len(out_of_scope))
        if out_of_scope else None,
        "sent": len(sent),
    }


def best_coverage(records, min_precision: float = 0.98) -> dict:
    """The lowest threshold whose sent answers are at least ``min_precision`` right, and its coverage."""
    best = {"threshold": None, "coverage": 0.0, "precision": None, "out_of_scope_sent": None}
    for threshold in sorted({round(r["confidence"], 4) for r in records}):
        row = threshold_row(records, threshold)
        if row["sent"] and row["precision"] >= min_precision and row["coverage"] > best["coverage"]:
            best = row
    return best


def ranking_summary(records) -> dict:
    """hit@1, hit@5 and MRR over the in-scope queries: what the ranking does, whatever the confidence."""
    in_scope = [r for r in records if r["expected"] is not None]

    def mean(values):
        values = list(values)
        return float(np.mean(values)) if values else None

    return {
        "queries": len(records),
        "in_scope": len(in_scope),
        "hit_at_1": mean(r["ids"][:1] == [r["expected"]] for r in in_scope),
        "hit_at_5": mean(r["expected"] in r["ids"][:5] for r in in_scope),
        "mrr": mean(1.0 / (r["ids"].index(r["expected"]) + 1) if r["expected"] in r["ids"] else 0.0
                    for r in in_scope),
    }


def confidence_summary(records, thresholds=THRESHOLDS) -> dict:
    """What the confidences do: calibration error, auto-send at each threshold, best coverage at precision ≥ 0.98."""
    best = best_coverage(records)
    return {
        "ece": ece([r["confidence"] for r in records], [is_correct(r) for r in records]),
        "thresholds": [
            {k: v for k, v in threshold_row(records, t).items() if k != "sent"} for t in thresholds
        ],
        "best_coverage_at_precision_98": best["coverage"],
        "best_threshold_at_precision_98": best["threshold"],
    }


def summarize(records, thresholds=THRESHOLDS) -> dict:
    latencies = np.array([r["ms"] for r in records]) if records else np.zeros(1)
    return {
        **ranking_summary(records),
        **confidence_summary(records, thresholds),
        "latency_ms": {"p50": float(np.percentile(latencies, 50)), "p95": float(np.percentile(latencies, 95))},
    }
