"""Retrieval evaluation (``manage.py kb_eval``, ``kb_calibrate``): load an FAQ file into throw-away shops,
run queries, measure; fit the confidence calibration and measure it out of sample.

Everything is written inside one transaction that is rolled back at the end, so
the database is left as it was on SQLite and PostgreSQL alike, and no other
process ever sees the throw-away shops (they are never committed). On SQLite the
transaction holds the write lock for the run: run it on a copy, or when nobody
is editing, for large files.

Figures that depend on the calibration (calibration error, precision and
coverage at a threshold) are only meaningful on queries it was not fitted on:
``out_of_sample`` refits the same model without the queries it measures
(cross-validation grouped by FAQ item, and fit on one set / measure on another).
"""

import hashlib
import time
import uuid
from collections.abc import Callable

import numpy as np
from django.db import transaction

from .engine import calibration, metrics, validation
from .exceptions import KnowledgeError
from .index import forget, shop_index

SHARED = None
DEFAULT_FOLDS = 5


def query_digest(text: str) -> str:
    """A short fingerprint of a query's text: calibrations list those they were fitted on."""
    return hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:12]


class _Rollback(Exception):
    pass


def shops_in(faq_rows: list[dict], query_rows: list[dict]) -> list:
    """Distinct shop values named in the files (None excluded), in first-seen order."""
    names = []
    for row in [*faq_rows, *query_rows]:
        name = row.get("shop")
        if name is not None and name not in names:
            names.append(name)
    return names


def run_evaluation(
    *,
    faq_rows: list[dict],
    query_rows: list[dict],
    k: int = 5,
    calibration_params: dict | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[dict, list[dict]]:
    """Evaluate search on ``faq_rows`` against ``query_rows``; returns ``(summary, records)``.

    1. One throw-away shop per ``shop`` value; FAQ rows without one are shared
       (a file with no ``shop`` at all goes into one shop).
    2. Items are created and their vectors built through the services.
    3. Each shop's index is built before timing, so latency is steady-state search.
    4. Each query runs against its shop; its confidence is the one search gives,
       or is recomputed with ``calibration_params`` when given (to compare parameter sets).
    The transaction is rolled back and this process's indexes are forgotten.
    The summary also says which embedder ran and whether the calibration in use fits it.
    """
    from customer_service.shops.models import Shop

    from .embedders import get_embedder
    from .models import KnowledgeItem
    from .selectors import calibration_state, knowledge_search
    from .services import index_stamp_bump, knowledge_item_create, knowledge_reindex

    params = calibration_params
    names = shops_in(faq_rows, query_rows)
    run = uuid.uuid4().hex[:8]
    records = []
    try:
        with transaction.atomic():
            # The database's own shared items would answer the throw-away shops too;
            # hidden here, inside the transaction that is rolled back.
            if KnowledgeItem.objects.filter(shop__isnull=True, is_active=True).update(is_active=False):
                index_stamp_bump(shop_id=None)
            shops = {name: Shop.objects.create(name=f"kb_eval-{run}-{name}") for name in names}
            single = None
            if not names:
                single = Shop.objects.create(name=f"kb_eval-{run}")
            ids = {}
            for n, row in enumerate(faq_rows, 1):
                owner = shops.get(row.get("shop")) if row.get("shop") is not None else single
                try:
                    item = knowledge_item_create(
                        actor=None, shop=owner, question=row["question"], answer=row.get("answer") or row["question"],
                        category=row.get("category") or "", keywords=row.get("keywords") or [],
                        similar_questions=row.get("similar_questions") or row.get("similar") or [],
                        external_id=str(row.get("id", n)), reindex=False,
                    )
                except KnowledgeError as exc:
                    fields = exc.detail if isinstance(exc.detail, dict) else {}
                    detail = "; ".join(f"{field}: {' '.join(map(str, errors))}" for field, errors in fields.items())
                    raise KnowledgeError(f"FAQ row {n}: {exc.message} {detail}".strip(), code=exc.code) from exc
                ids[item.pk] = row.get("id", n)
                if progress:
                    progress("load", n, len(faq_rows))
            total = KnowledgeItem.objects.filter(pk__in=list(ids)).count()
            done = [0]

            def tick(step):
                done[0] += step
                if progress:
                    progress("embed", done[0], total)

            knowledge_reindex(items=KnowledgeItem.objects.filter(pk__in=list(ids)), progress=tick)
            for shop in [*shops.values(), single]:
                if shop is not None:
                    shop_index(shop.pk)
            knowledge_search(shop=next(iter(shops.values()), single).pk, text="预热一下", k=k)
            for n, query in enumerate(query_rows, 1):
                if query.get("shop") is not None:
                    if query["shop"] not in shops:
                        raise KnowledgeError(f"Query {n} names an unknown shop {query['shop']!r}.")
                    shop = shops[query["shop"]]
                elif single is not None:
                    shop = single
                elif len(shops) == 1:
                    shop = next(iter(shops.values()))
                else:
                    raise KnowledgeError(f"Query {n} has no shop, and the FAQ file has several.")
                started = time.perf_counter()
                hits = knowledge_search(shop=shop, text=query["query"], k=k)
                elapsed = (time.perf_counter() - started) * 1000
                top_features = hits[0].signals if hits else None
                expected = query.get("expected_id")
                records.append({
                    "query": query["query"],
                    "expected": expected,
                    # Every phrasing of an item on the same side of a split; an out-of-scope query alone.
                    "group": f"item:{expected}" if expected is not None else f"out-of-scope:{n}",
                    "ids": [ids[h.item_id] for h in hits],
                    "confidence": (float(calibration.predict(params, top_features)) if params else hits[0].confidence)
                    if hits else 0.0,
                    "features": top_features,
                    "ms": elapsed,
                })
                if progress:
                    progress("search", n, len(query_rows))
            raise _Rollback
    except _Rollback:
        pass
    finally:
        forget()
    embedder = get_embedder()
    summary = metrics.summarize(records)
    summary["embedder"] = {"name": embedder.name, "version": embedder.version}
    if params is None:
        state = calibration_state(embedder)
        summary["calibration"] = {"calibrated": state.calibrated, "detail": state.detail}
    else:
        summary["calibration"] = {"calibrated": calibration.fitted_for(params, embedder),
                                  "detail": "parameters given to the evaluation"}
    return summary, records


def _labelled(records: list[dict]) -> tuple[list[dict], list[bool]]:
    """The feature dicts and right/wrong labels of the records whose query found an item."""
    scored = [r for r in records if r["features"] is not None]
    return [r["features"] for r in scored], [metrics.is_correct(r) for r in scored]


def fit_calibration(record_sets: list[tuple[str, list[dict]]], embedder: dict, template: dict | None = None) -> dict:
    """Calibration parameters fitted on the records of one or more evaluations.

    ``record_sets``: ``[(name, records)]`` as ``run_evaluation`` returns them;
    ``embedder``: its summary's ``{"name", "version"}``; the model is ``template``'s
    (features, penalty, gates, monotony, link), by default a monotone logistic regression
    over ``calibration.FEATURES`` with its link at ``calibration.LINK_KNOTS`` (a template's link may name
    the sets it is fitted on: ``link["sets"]``, as in ``record_sets``). A top hit is right
    when it is the expected item; queries without a hit carry no features and are left out.
    The parameters name the embedder (they only mean something for its scores)
    and list the fingerprints of the queries they were fitted on, so an
    evaluation can tell in-sample figures from out-of-sample ones.
    """
    rows, labels = _labelled([r for _, records in record_sets for r in records])
    sets = [name for name, records in record_sets for r in records if r["features"] is not None]
    if not rows:
        raise KnowledgeError("No query found any item: there is nothing to fit.", code="nothing_to_fit")
    if len(set(labels)) < 2:
        raise KnowledgeError("Fitting needs queries answered both rightly and wrongly.", code="nothing_to_fit")
    template = template or {"features": list(calibration.FEATURES), "l2": 1.0, "gates": {"smalltalk": 0.01},
                            "monotone": True, "link": {"knots": list(calibration.LINK_KNOTS)}}
    fitted = calibration.refit(template, rows, labels, sets=sets)
    fitted["fit_on"] = [name for name, _ in record_sets]
    fitted["embedder"] = embedder["name"]
    fitted["embedder_version"] = embedder["version"]
    fitted["fitted_queries"] = sorted({query_digest(r["query"]) for _, records in record_sets for r in records})
    return fitted


def fitted_on(params: dict, records: list[dict]) -> int | None:
    """How many of ``records``' queries the calibration ``params`` was fitted on (None: it does not say)."""
    digests = params.get("fitted_queries")
    if digests is None:
        return None
    known = set(digests)
    return sum(query_digest(r["query"]) in known for r in records)


def _fitter(template: dict):
    """``fit(records, labels)`` for ``validation.out_of_fold``: the template's model, fitted on those records."""
    def fit(records, labels):
        rows = [(r["features"], label) for r, label in zip(records, labels, strict=True) if r["features"] is not None]
        outcomes = {label for _, label in rows}
        if len(outcomes) < 2:
            # A training part with only right (or only wrong) answers: its rate is all it can say.
            rate = float(next(iter(outcomes))) if outcomes else 0.0
            return lambda held: np.array([rate if r["features"] is not None else 0.0 for r in held])
        sets = [r.get("set") for r in records if r["features"] is not None]
        params = calibration.refit(template, [f for f, _ in rows], [label for _, label in rows], sets=sets)
        return lambda held: confidences(params, held)
    return fit


def confidences(params: dict, records: list[dict]) -> np.ndarray:
    """The confidence ``params`` gives each record's top hit (0 when the query found nothing)."""
    scored = [n for n, r in enumerate(records) if r["features"] is not None]
    out = np.zeros(len(records))
    if scored:
        out[scored] = calibration.predict(params, [records[n]["features"] for n in scored])
    return out


def measured(records: list[dict], confidence) -> dict:
    """Ranking and confidence figures of ``records`` with the given confidences."""
    rescored = [{**r, "confidence": float(c)} for r, c in zip(records, confidence, strict=True)]
    return {**metrics.ranking_summary(rescored), **metrics.confidence_summary(rescored)}


def phrasing_halves(records: list[dict]) -> list[str]:
    """``"a"`` or ``"b"`` for each record: an item's queries alternate between the halves in file order,
    and so do the out-of-scope ones."""
    seen: dict = {}
    halves = []
    for r in records:
        seen[r["expected"]] = seen.get(r["expected"], 0) + 1
        halves.append("ab"[(seen[r["expected"]] - 1) % 2])
    return halves


def out_of_sample(record_sets: list[tuple[str, list[dict]]], template: dict, *, folds: int = DEFAULT_FOLDS,
                  seed: int = 0, fitter=None) -> dict:
    """Figures of ``template``'s model on queries it was not fitted on.

    * ``cross_validation``: per set, each query's confidence comes from the model
      fitted on the other folds of its set (folds grouped by FAQ item) plus every
      other set whole — how the model fitted on all the sets does on new items.
    * ``phrasing_halves``: per set, each item's queries dealt alternately to two
      halves (its first phrasing to one, its second to the other, …), the
      out-of-scope queries too; each half measured with the model fitted on the
      other half plus every other set — new phrasings of known items and new
      out-of-scope messages, as a shop meets them.
    * ``cross_set`` (two sets or more): fitted on one set, measured on another.
    * ``in_sample``: fitted on all the sets and measured on the same queries —
      for comparison only, never a measurement.

    ``fitter``: ``fitter(template)`` gives ``fit(records, labels)`` → predictor of records, for a model
    ``calibration.refit`` does not fit (a benchmark's candidate); by default the template's model.
    """
    fit = (fitter or _fitter)(template)
    # Each record says its set, so a model whose link is fitted on some sets only finds their rows.
    labelled = [(name, [{**r, "set": name} for r in records], [metrics.is_correct(r) for r in records])
                for name, records in record_sets]
    report = {"folds": folds, "seed": seed, "cross_validation": {}, "phrasing_halves": {}, "cross_set": [],
              "in_sample": {}}
    for name, records, labels in labelled:
        others = [(r, label) for other, rs, ls in labelled if other != name for r, label in zip(rs, ls, strict=True)]
        always = ([r for r, _ in others], [label for _, label in others])
        predicted = validation.out_of_fold(records, labels, [r["group"] for r in records], fit, folds=folds,
                                           seed=seed, always=always)
        report["cross_validation"][name] = measured(records, predicted)
        predicted = validation.out_of_fold(records, labels, phrasing_halves(records), fit, folds=2, always=always)
        report["phrasing_halves"][name] = measured(records, predicted)
    for fit_name, fit_records, fit_labels in labelled:
        predict = fit(fit_records, fit_labels)
        for name, records, _ in labelled:
            if name != fit_name:
                report["cross_set"].append({"fit_on": fit_name, "measured_on": name,
                                            **measured(records, predict(records))})
    everything = [(r, label) for _, rs, ls in labelled for r, label in zip(rs, ls, strict=True)]
    predict = fit([r for r, _ in everything], [label for _, label in everything])
    for name, records, _ in labelled:
        report["in_sample"][name] = measured(records, predict(records))
    return report
