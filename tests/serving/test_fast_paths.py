"""Serving's fast predict path gives the pipeline's probabilities bit for bit, or is not used."""

from __future__ import annotations

import dataclasses

import numpy as np
import polars as pl
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline

from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.ml.train import build_pipeline, inputs
from lakehouse_ml.serving.predictor import compile_predictor, numbers_block
from lakehouse_ml.serving.trees import tree_probabilities

FEATURES = pl.Schema({"plan": pl.String, "visits": pl.Int64, "spend": pl.Float64,
                      "active": pl.Boolean, "ratio": pl.Float32})


def _rows(n: int, seed: int) -> pl.DataFrame:
    """Random rows with nulls in every column and NaN in the float column."""
    rng = np.random.default_rng(seed)
    spend = rng.normal(50, 30, n)
    spend[rng.random(n) < 0.05] = np.nan
    frame = pl.DataFrame({
        "plan": rng.choice(["free", "pro", "team"], n), "visits": rng.integers(0, 40, n),
        "spend": spend, "active": rng.random(n) < 0.5, "ratio": rng.random(n),
    }, schema=FEATURES)
    return frame.with_columns(
        pl.when(pl.int_range(n) % 17 == k).then(None).otherwise(pl.col(c)).alias(c)
        for k, c in enumerate(FEATURES))


def _fit(classifier: HistGradientBoostingClassifier | None = None) -> Pipeline:
    train = _rows(3000, 1)
    label = ((train["visits"] > 20) ^ (train["plan"] == "pro")).fill_null(False).to_numpy()
    spec = dataclasses.replace(MODEL, categorical=("plan",), params={"max_iter": 60})
    pipeline = build_pipeline(spec, list(FEATURES))
    if classifier is not None:
        pipeline.steps[-1] = ("classifier", classifier)
    return pipeline.fit(inputs(train, list(FEATURES)), label)


def test_trees_walked_by_treelite_sum_as_scikit_learn_does() -> None:
    pipeline = _fit()
    encoded = pipeline.steps[0][1].transform(inputs(_rows(5000, 2), list(FEATURES)))
    probabilities = tree_probabilities(pipeline.steps[-1][1])
    assert probabilities is not None
    expected = pipeline.steps[-1][1].predict_proba(encoded)[:, 1]
    assert np.array_equal(probabilities(encoded), expected)  # bit for bit, NaN rows included


def test_fast_path_equals_the_pipeline_on_columns_with_nulls_and_unknown_values() -> None:
    pipeline = _fit()
    example = inputs(_rows(5, 3), list(FEATURES))
    predict, slow_reason = compile_predictor(pipeline, FEATURES, example)
    assert slow_reason is None
    rows = _rows(2000, 4).with_columns(
        pl.when(pl.int_range(2000) % 50 == 0).then(pl.lit("new tier")).otherwise("plan")
        .alias("plan"))
    expected = pipeline.predict_proba(inputs(rows, list(FEATURES)))[:, 1]
    assert np.array_equal(predict(rows.to_dict(as_series=False)), expected)


def test_a_float32_input_sent_as_a_double_is_held_in_float32_as_batch_scoring_holds_it(
) -> None:
    encode = numbers_block(["spend", "ratio"], FEATURES)
    sent = {"spend": [0.1, None], "ratio": [0.1, None]}
    held = pl.DataFrame(sent, schema={"spend": pl.Float64, "ratio": pl.Float32})
    assert np.array_equal(encode(sent), held.to_numpy().astype(np.float64), equal_nan=True)
    assert encode(sent)[0, 1] != 0.1


class Drifting(HistGradientBoostingClassifier):
    """A model whose trees are not all it computes: the fast path cannot reproduce it."""

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return super().predict_proba(X) + 1e-12


def test_a_model_the_fast_path_cannot_reproduce_is_served_by_the_pipeline() -> None:
    assert tree_probabilities(GradientBoostingClassifier()) is None  # not a histogram model
    pipeline = _fit(Drifting(max_iter=30))
    predict, slow_reason = compile_predictor(pipeline, FEATURES,
                                             inputs(_rows(5, 3), list(FEATURES)))
    assert slow_reason == ("the fast path's probabilities differ from the pipeline's on the "
                           "logged input example")
    rows = _rows(50, 5)
    assert np.array_equal(predict(rows.to_dict(as_series=False)),
                          pipeline.predict_proba(inputs(rows, list(FEATURES)))[:, 1])
