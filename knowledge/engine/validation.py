"""Out-of-sample measurement of a confidence model: grouped cross-validation and fit-on-one / measure-on-another.

A query's group is the FAQ item it expects (an out-of-scope query is a group of
its own): every phrasing of an item lands on the same side of a split, so a
model is never measured on a paraphrase of a query it was fitted on.
"""

from collections.abc import Callable, Sequence

import numpy as np


def grouped_folds(groups: Sequence, folds: int, seed: int = 0) -> np.ndarray:
    """The fold (0 … ``folds`` − 1) of each row; all rows of a group share one.

    Groups are shuffled with ``seed`` and dealt largest first to the emptiest fold,
    so folds hold about as many rows each. Deterministic for a given ``seed``.
    """
    order: dict = {}
    for group in groups:
        order[group] = order.get(group, 0) + 1
    names = list(order)
    rng = np.random.default_rng(seed)
    shuffled = [names[i] for i in rng.permutation(len(names))]
    shuffled.sort(key=lambda name: -order[name])  # stable: equal sizes keep the shuffled order
    sizes = np.zeros(max(1, folds), np.int64)
    assigned = {}
    for name in shuffled:
        fold = int(np.argmin(sizes))
        assigned[name] = fold
        sizes[fold] += order[name]
    return np.array([assigned[group] for group in groups], np.int64)


def out_of_fold(
    rows: Sequence[dict],
    labels: Sequence[bool],
    groups: Sequence,
    fit: Callable[[list[dict], list[bool]], Callable[[list[dict]], np.ndarray]],
    *,
    folds: int = 5,
    seed: int = 0,
    always: tuple[Sequence[dict], Sequence[bool]] = ((), ()),
) -> np.ndarray:
    """Each row's prediction by a model fitted without the row's fold.

    ``fit(rows, labels)`` returns a predictor of rows; ``always`` are rows (and
    labels) of other sets added to every fold's training rows.
    """
    assignment = grouped_folds(groups, folds, seed)
    predictions = np.zeros(len(rows))
    extra_rows, extra_labels = list(always[0]), list(always[1])
    for fold in np.unique(assignment):
        held = assignment == fold
        train_rows = [row for row, out in zip(rows, held, strict=True) if not out] + extra_rows
        train_labels = [label for label, out in zip(labels, held, strict=True) if not out] + extra_labels
        predict = fit(train_rows, train_labels)
        predictions[held] = predict([row for row, out in zip(rows, held, strict=True) if out])
    return predictions
