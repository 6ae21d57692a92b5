"""Out-of-sample measurement: folds grouped by FAQ item, predictions by models that never saw the row."""

import numpy as np

from knowledge.engine.validation import grouped_folds, out_of_fold
from knowledge.evaluation import out_of_sample, phrasing_halves


def test_every_phrasing_of_an_item_lands_in_one_fold_and_folds_are_about_even():
    groups = [f"item:{n // 2}" for n in range(40)] + [f"out-of-scope:{n}" for n in range(7)]
    folds = grouped_folds(groups, 5, seed=3)
    for group in set(groups):
        assert len({folds[n] for n, g in enumerate(groups) if g == group}) == 1
    sizes = np.bincount(folds, minlength=5)
    assert sizes.max() - sizes.min() <= 2
    assert (grouped_folds(groups, 5, seed=3) == folds).all()
    assert not (grouped_folds(groups, 5, seed=4) == folds).all()


def test_each_prediction_comes_from_a_model_that_never_saw_the_rows_group():
    rows = [{"id": n, "group": f"item:{n // 3}"} for n in range(30)]
    extra = [{"id": 100 + n, "group": "other-set"} for n in range(4)]
    seen_by_model = []

    def fit(train_rows, train_labels):
        trained_on = {row["id"] for row in train_rows}
        seen_by_model.append(trained_on)
        assert len(train_labels) == len(train_rows)
        assert {row["id"] for row in extra} <= trained_on  # the other sets train every fold
        # Predicts 1 for a row it was fitted on, 0 otherwise: any leak shows in the result.
        return lambda held: np.array([float(row["id"] in trained_on) for row in held])

    predictions = out_of_fold(rows, [True] * 30, [row["group"] for row in rows], fit, folds=5,
                              always=(extra, [False] * 4))
    assert len(seen_by_model) == 5
    assert (predictions == 0).all()


def test_phrasing_halves_split_each_items_queries_and_the_out_of_scope_ones_alternately():
    expected = ["a", "b", "a", None, "a", None, "b", None]
    assert phrasing_halves([{"expected": e} for e in expected]) == ["a", "a", "b", "a", "a", "b", "b", "a"]


def test_out_of_sample_measures_a_model_the_caller_fits_on_rows_it_never_measured():
    def records(name):
        return [{"query": f"{name}{n}", "expected": f"{name}{n // 2}", "ids": [f"{name}{n // 2}"],
                 "group": f"item:{name}{n // 2}", "features": {"margin": 1.0}} for n in range(20)]

    templates = []

    def fitter(template):
        templates.append(template)

        def fit(train, labels):
            trained_on = {r["query"] for r in train}
            # Sure of a query it was fitted on, of nothing else: any leak shows in the figures.
            return lambda held: np.array([float(r["query"] in trained_on) for r in held])
        return fit

    template = {"features": ["margin"]}
    report = out_of_sample([("a", records("a")), ("b", records("b"))], template, fitter=fitter)
    assert templates == [template]
    for name in "ab":
        for measurement in ("cross_validation", "phrasing_halves"):
            assert report[measurement][name]["thresholds"][-1]["coverage"] == 0.0
        assert report["in_sample"][name]["thresholds"][-1]["coverage"] == 1.0
    assert [row["thresholds"][-1]["coverage"] for row in report["cross_set"]] == [0.0, 0.0]
