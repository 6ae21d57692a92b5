"""Confidence calibration: a logistic regression over a hit's features, fitted offline.

The parameters are a small JSON document (``knowledge/calibration.json``):
feature names, coefficients on the raw features, bias, "gates" — features
that, when set, cap the confidence (a message of greetings only is never
answered on its own) — and the embedder (name and version) whose scores they
were fitted on. Another embedder's scores are distributed differently, so its
confidences would mean nothing: search then caps them at ``UNCALIBRATED_CEILING``.
"""

import json

import numpy as np

FEATURES = ["margin", "qcov", "qcov_plain"]
# Below any sensible draft or auto-send threshold: with parameters fitted for another
# embedder, nothing is sent on its own and nothing is offered as a confident answer.
UNCALIBRATED_CEILING = 0.5


def feature_matrix(feature_dicts, names=FEATURES):
    return np.array([[float(f[n]) for n in names] for f in feature_dicts], np.float64)


def fit_logistic(feature_dicts, labels, names=FEATURES, l2=1.0, iters=50, gates=("smalltalk",)):
    """Fit by Newton's method with an L2 penalty on standardised features; rows a gate caps are left out.

    Returns the parameter document ``predict`` reads.
    """
    keep = [i for i, f in enumerate(feature_dicts) if not any(float(f.get(g, 0)) > 0.5 for g in gates)]
    x = feature_matrix([feature_dicts[i] for i in keep], names)
    y = np.asarray(labels, np.float64)[keep]
    mu, sd = x.mean(0), x.std(0) + 1e-9
    z = np.c_[np.ones(len(x)), (x - mu) / sd]
    w = np.zeros(z.shape[1])
    penalty = l2 * np.eye(z.shape[1])
    penalty[0, 0] = 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-z @ w))
        gradient = z.T @ (p - y) + penalty @ w
        hessian = (z * (p * (1 - p))[:, None]).T @ z + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    # Fold the standardisation into coefficients on the raw features.
    coef = w[1:] / sd
    bias = w[0] - float(coef @ mu)
    return {"type": "logistic", "features": list(names), "gates": dict.fromkeys(gates, 0.01),
            "coef": [float(c) for c in coef], "bias": float(bias), "l2": l2, "n_fit": len(y)}


def fitted_for(params: dict, embedder) -> bool:
    """Whether ``params`` were fitted on the scores of this embedder (same name and version)."""
    return (params.get("embedder"), params.get("embedder_version")) == (embedder.name, embedder.version)


def predict(params, features):
    """Confidence in [0, 1] for one feature dict, or an array for a list of them."""
    single = isinstance(features, dict)
    rows = [features] if single else list(features)
    if not rows:
        return np.zeros(0)
    z = feature_matrix(rows, params["features"]) @ np.asarray(params["coef"]) + params["bias"]
    p = 1 / (1 + np.exp(-np.clip(z, -40, 40)))
    for gate, cap in (params.get("gates") or {}).items():
        gated = np.array([float(f.get(gate, 0.0)) > 0.5 for f in rows])
        p = np.where(gated, np.minimum(p, cap), p)
    return float(p[0]) if single else p


def load(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def save(params, path):
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(params, fh, indent=2)
        fh.write("\n")
