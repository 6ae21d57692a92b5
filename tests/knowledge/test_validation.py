"""Out-of-sample measurement: folds grouped by FAQ item, predictions by models that never saw the row."""

import numpy as np

from knowledge.engine.validation import grouped_folds, out_of_fold
from knowledge.evaluation import phrasing_halves


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
