"""Confidence calibration: a logistic regression over a hit's features, fitted offline.

The parameters are a small JSON document (``knowledge/calibration.json``):
feature names, coefficients on the raw features, bias, "gates" — features
that, when set, cap the confidence (a message of greetings only is never
answered on its own) — and the embedder (name and version) whose scores they
were fitted on. Another embedder's scores are distributed differently, so its
confidences would mean nothing: search then caps them at ``UNCALIBRATED_CEILING``.

The features are two margins that mean the same thing in every shop: how far the
top item leads the runner-up in the fused ranking, and how much closer the
query is to the top item's whole text than to its competitors'. The fit is
monotone (a wider lead never lowers the confidence), so three numbers are all
it learns. Chosen on out-of-sample tables (``kb_calibrate``) over richer sets —
query coverage, each signal's own margin, agreement between the signals, the
kind of phrasing matched, query length — none of which carried from one data
set to another.
"""

import json

import numpy as np

FEATURES = ["margin", "item_margin"]
# The baseline every confidence model is measured against: the fused top-two margin alone.
BASELINE_FEATURES = ["margin"]
# Below any sensible draft or auto-send threshold: with parameters fitted for another
# embedder, nothing is sent on its own and nothing is offered as a confident answer.
UNCALIBRATED_CEILING = 0.5


def feature_matrix(feature_dicts, names=FEATURES):
    return np.array([[float(f[n]) for n in names] for f in feature_dicts], np.float64)


def fit_logistic(feature_dicts, labels, names=FEATURES, l2=1.0, iters=50, gates=("smalltalk",),
                 monotone=True):
    """Fit by Newton's method with an L2 penalty on standardised features; rows a gate caps are left out.

    ``monotone``: every feature may only raise the confidence; a feature fitted with a
    negative coefficient is dropped (coefficient 0) and the rest refitted.
    Returns the parameter document ``predict`` reads.
    """
    names = list(names)
    keep = [i for i, f in enumerate(feature_dicts) if not any(float(f.get(g, 0)) > 0.5 for g in gates)]
    rows = [feature_dicts[i] for i in keep]
    y = np.asarray(labels, np.float64)[keep]
    used = list(names)
    while True:
        coef, bias = _newton(feature_matrix(rows, used), y, l2=l2, iters=iters)
        negative = [name for name, c in zip(used, coef, strict=True) if c < 0]
        if not monotone or not negative:
            break
        used = [name for name in used if name not in negative]
    fitted = dict(zip(used, coef, strict=True))
    return {"type": "logistic", "features": names, "gates": dict.fromkeys(gates, 0.01),
            "coef": [float(fitted.get(name, 0.0)) for name in names], "bias": float(bias), "l2": l2,
            "monotone": monotone, "n_fit": len(y)}


def _newton(x, y, *, l2, iters):
    """Coefficients on the raw columns of ``x`` and the bias of an L2-penalised logistic regression."""
    if not len(y):
        raise ValueError("nothing to fit")
    if x.shape[1] == 0:
        rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
        return np.zeros(0), float(np.log(rate / (1 - rate)))
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
    return coef, float(w[0] - float(coef @ mu))


def refit(params: dict, feature_dicts, labels) -> dict:
    """Parameters of the same model as ``params`` (features, penalty, gates, monotony) fitted on other rows."""
    return fit_logistic(feature_dicts, labels, names=params["features"], l2=params.get("l2", 1.0),
                        gates=tuple(params.get("gates") or ()), monotone=params.get("monotone", False))


def validate(params) -> dict:
    """``params`` if it is a calibration document ``predict`` can read; raises ``ValueError`` saying why not."""
    if not isinstance(params, dict):
        raise ValueError("not a calibration (a JSON object expected)")
    features, coef = params.get("features"), params.get("coef")
    if not isinstance(features, list) or not all(isinstance(name, str) for name in features) \
            or not isinstance(coef, list) or len(coef) != len(features):
        raise ValueError("not a calibration (features, coef and bias expected)")
    numbers = [*coef, params.get("bias")]
    if not all(isinstance(n, int | float) and not isinstance(n, bool) and np.isfinite(n) for n in numbers):
        raise ValueError("coef and bias must be finite numbers")
    gates = params.get("gates") or {}
    if not isinstance(gates, dict) or not all(isinstance(cap, int | float) and not isinstance(cap, bool)
                                              for cap in gates.values()):
        raise ValueError("gates must map feature names to caps")
    return params


def corrected(params: dict, *, slope: float, intercept: float, **metadata) -> dict:
    """``params`` recalibrated: logit(confidence) becomes ``slope`` × logit(confidence) + ``intercept``.

    What a shop's own review outcomes fit (Platt scaling of the confidences it was given):
    the result is again a logistic document over the same features, so a shop can
    carry it as its own calibration (``ShopCalibration``). ``metadata`` (e.g. ``fit_on``)
    is recorded in it; the gates and the embedder stay those of ``params``.
    """
    if not (isinstance(slope, int | float) and slope > 0 and np.isfinite(slope)) \
            or not (isinstance(intercept, int | float) and np.isfinite(intercept)):
        raise ValueError("a correction needs a positive slope and a finite intercept")
    base = validate(params)
    return {**base, "coef": [float(slope * c) for c in base["coef"]],
            "bias": float(slope * base["bias"] + intercept),
            "correction": {"slope": float(slope), "intercept": float(intercept)}, **metadata}


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
