"""A gradient-boosted classifier's probabilities without scikit-learn's per-tree Python loop.

scikit-learn evaluates a fitted `HistGradientBoostingClassifier` one tree at a time from Python:
on one row its 200 trees cost about a millisecond, nearly all of it call overhead. treelite
walks every tree in one call (tens of microseconds). treelite's own sum of the leaves adds in
another order than scikit-learn (so the results differ in the last bits); so only the leaf
each tree reaches comes from treelite, and the leaf values are added in scikit-learn's order
(its baseline, then tree by tree) and passed through its loss. That reads fitted attributes
scikit-learn keeps private, which is why `predictor.compile_predictor` serves this only after
it reproduced `predict_proba` bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import treelite
from sklearn.ensemble import HistGradientBoostingClassifier

Probabilities = Callable[[np.ndarray], np.ndarray]
"""Encoded rows (float64) → probability of the positive class."""


def tree_probabilities(classifier: object) -> Probabilities | None:
    """treelite-backed `predict_proba(X)[:, 1]` for a binary classifier it supports, or None."""
    if (not isinstance(classifier, HistGradientBoostingClassifier)
            or getattr(classifier, "n_trees_per_iteration_", 0) != 1
            or getattr(classifier, "is_categorical_", None) is not None):
        return None
    try:
        model = treelite.sklearn.import_model(classifier)
        values = [predictor.nodes["value"] for (predictor,) in classifier._predictors]
        baseline = float(np.ravel(classifier._baseline_prediction)[0])
        loss = classifier._loss
    except (AttributeError, TypeError, ValueError, treelite.TreeliteError):
        return None
    leaf_values = np.zeros((len(values), max(len(v) for v in values)))
    for tree, value in enumerate(values):
        leaf_values[tree, : len(value)] = value
    trees = np.arange(len(values))

    def probabilities(encoded: np.ndarray) -> np.ndarray:
        leaves = treelite.gtil.predict_leaf(model, encoded, nthread=1).astype(np.intp)
        terms = np.hstack([np.full((len(encoded), 1), baseline), leaf_values[trees, leaves]])
        raw = np.cumsum(terms, axis=1)[:, -1:]  # left to right, as scikit-learn adds
        return loss.predict_proba(raw)[:, 1]

    return probabilities
