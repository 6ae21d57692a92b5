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
monotone (a wider lead never lowers the confidence): three numbers, and three
more for the link below. Chosen on out-of-sample tables (``kb_calibrate``) over
richer sets — query coverage, each signal's own margin, agreement between the
signals, the kind of phrasing matched, query length — none of which carried
from one data set to another.

The margins' log-odds then pass through a monotone piecewise-linear *link*
(``link``: its knots, coefficients and bias, fitted on the same rows after the
margins' weights). One straight line of log-odds over the whole range is held
down at the top by the middle, where right and wrong answers mix: out of sample
it gave 0.90–0.98 to e-commerce answers that were right 81 times in 82. Past
the knot the link's log-odds may rise more steeply; its coefficients are never
negative, so the confidence still only grows with the score. The link may be fitted on the
rows of some of the sets only (``link["sets"]``, the names of their queries files): the
shipped one is fitted on the e-commerce buyer messages kefu answers, while the margins'
weights are fitted on every set. The top of ATEC's financial-service questions is noisier
(one wrong answer comes 41st of 650), and fitted on both sets the link puts 0.98 where
e-commerce answers are right far more often than 98 times in 100.
"""

import json

import numpy as np

FEATURES = ["margin", "item_margin"]
# The baseline every confidence model is measured against: the fused top-two margin alone.
BASELINE_FEATURES = ["margin"]
# Below any sensible draft or auto-send threshold: with parameters fitted for another
# embedder, nothing is sent on its own and nothing is offered as a confident answer.
UNCALIBRATED_CEILING = 0.5
# Where the link's log-odds may bend upwards (log-odds of the margins' model: 1.5 is about 0.82).
# Chosen on the out-of-sample tables of kb_calibrate among 1.0, 1.5, 2.0 and 2.5 (README).
LINK_KNOTS = (1.5,)


def feature_matrix(feature_dicts, names=FEATURES):
    return np.array([[float(f[n]) for n in names] for f in feature_dicts], np.float64)


def fit_logistic(feature_dicts, labels, names=FEATURES, l2=1.0, iters=50, gates=("smalltalk",),
                 monotone=True, knots=(), link_sets=(), sets=None):
    """Fit by Newton's method with an L2 penalty on standardised features; rows a gate caps are left out.

    ``monotone``: every feature may only raise the confidence; a feature fitted with a
    negative coefficient is dropped (coefficient 0) and the rest refitted.
    ``knots``: with any, a monotone link over the fitted log-odds is fitted next on the
    same rows (``_fit_link``), or only on those whose set (``sets``: one name per row) is
    one of ``link_sets`` — on all of them when those rows are not both right and wrong.
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
    params = {"type": "logistic", "features": names, "gates": dict.fromkeys(gates, 0.01),
              "coef": [float(fitted.get(name, 0.0)) for name in names], "bias": float(bias), "l2": l2,
              "monotone": monotone, "n_fit": len(y)}
    if knots:
        chosen = np.ones(len(y), bool)
        if link_sets and sets is not None:
            chosen = np.array([sets[i] in link_sets for i in keep], bool)
            if len(set(y[chosen])) < 2:
                chosen[:] = True
        params["link"] = _fit_link(_linear(params, rows)[chosen], y[chosen], knots=knots, l2=l2, iters=iters)
        if link_sets:
            params["link"]["sets"] = list(link_sets)
    return params


def _linear(params, rows) -> np.ndarray:
    """The log-odds of the features' model before the link."""
    return feature_matrix(rows, params["features"]) @ np.asarray(params["coef"], np.float64) + params["bias"]


def _link_columns(score, knots) -> np.ndarray:
    """The link's inputs: the log-odds, and how far they pass each knot (0 below it)."""
    score = np.asarray(score, np.float64)
    return np.c_[score, *[np.maximum(score - knot, 0.0) for knot in knots]]


def _fit_link(score, y, *, knots, l2, iters) -> dict:
    """A monotone piecewise-linear map of log-odds: a logistic regression over ``_link_columns``
    whose coefficients are all kept non-negative (a column fitted negative is dropped, the rest refitted)."""
    knots = [float(knot) for knot in knots]
    columns = _link_columns(score, knots)
    used = list(range(columns.shape[1]))
    while True:
        coef, bias = _newton(columns[:, used], y, l2=l2, iters=iters)
        negative = [n for n, c in zip(used, coef, strict=True) if c < 0]
        if not negative:
            break
        used = [n for n in used if n not in negative]
    fitted = dict(zip(used, coef, strict=True))
    return {"knots": knots, "coef": [float(fitted.get(n, 0.0)) for n in range(columns.shape[1])],
            "bias": float(bias)}


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


def refit(params: dict, feature_dicts, labels, sets=None) -> dict:
    """Parameters of the same model as ``params`` (features, penalty, gates, monotony, link knots and the sets
    its link is fitted on) fitted on other rows; ``sets``: the name of each row's set."""
    link = params.get("link") or {}
    return fit_logistic(feature_dicts, labels, names=params["features"], l2=params.get("l2", 1.0),
                        gates=tuple(params.get("gates") or ()), monotone=params.get("monotone", False),
                        knots=tuple(link.get("knots") or ()), link_sets=tuple(link.get("sets") or ()), sets=sets)


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
    link = params.get("link")
    if link is not None:
        if not isinstance(link, dict) or not isinstance(link.get("knots"), list) \
                or not isinstance(link.get("coef"), list) or len(link["coef"]) != len(link["knots"]) + 1:
            raise ValueError("the link needs knots, one coefficient more than knots, and a bias")
        numbers = [*link["knots"], *link["coef"], link.get("bias")]
        if not all(isinstance(n, int | float) and not isinstance(n, bool) and np.isfinite(n) for n in numbers):
            raise ValueError("the link's knots, coef and bias must be finite numbers")
        if any(c < 0 for c in link["coef"]):
            raise ValueError("the link's coefficients may not be negative (a wider lead never lowers the confidence)")
        sets = link.get("sets", [])
        if not isinstance(sets, list) or not all(isinstance(name, str) for name in sets):
            raise ValueError("the link's sets must be a list of set names")
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
    fixed = {"correction": {"slope": float(slope), "intercept": float(intercept)}, **metadata}
    if base.get("link") is not None:
        # The correction applies to the final log-odds, which the link's output is.
        link = base["link"]
        return {**base, "link": {**link, "coef": [float(slope * c) for c in link["coef"]],
                                 "bias": float(slope * link["bias"] + intercept)}, **fixed}
    return {**base, "coef": [float(slope * c) for c in base["coef"]],
            "bias": float(slope * base["bias"] + intercept), **fixed}


def fitted_for(params: dict, embedder) -> bool:
    """Whether ``params`` were fitted on the scores of this embedder (same name and version)."""
    return (params.get("embedder"), params.get("embedder_version")) == (embedder.name, embedder.version)


def predict(params, features):
    """Confidence in [0, 1] for one feature dict, or an array for a list of them."""
    single = isinstance(features, dict)
    rows = [features] if single else list(features)
    if not rows:
        return np.zeros(0)
    z = _linear(params, rows)
    link = params.get("link")
    if link is not None:
        z = _link_columns(z, link["knots"]) @ np.asarray(link["coef"], np.float64) + link["bias"]
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
