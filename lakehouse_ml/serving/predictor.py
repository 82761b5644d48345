"""Probabilities from a fitted pipeline, fast on the few rows a request carries.

`pipeline.predict_proba` on a one-row pandas frame spends most of its time converting columns
and in the ColumnTransformer's and the model's per-call bookkeeping, not in the model. For the
shape `ml/train.py` builds (a dense ColumnTransformer, then a classifier) the fast path works on
the request's plain columns: passthrough columns become float64 (what the transformer's stacking
yields anyway), one-hot encoding is a dict lookup, any other fitted transformer gets only its
own columns (as pandas, the type it was fitted on), and a gradient-boosted classifier is walked
by `trees`. It is used only if it reproduces the pipeline's own output bit for bit on the
model's logged input example plus an all-null row; otherwise the pipeline is called on the
frame batch scoring would build, and `compile_predictor` says why (the pipeline's shape, no
input example, a difference: never a value of the example, which may hold pii).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from lakehouse_ml.features.row_lookup import Columns
from lakehouse_ml.ml.train import inputs
from lakehouse_ml.serving.trees import tree_probabilities

Predict = Callable[[Columns], np.ndarray]
"""The model's features as columns → probability of the positive class, per row."""

Block = Callable[[Columns], np.ndarray]
"""One part of the ColumnTransformer: the batch's columns → its dense output columns."""


def pipeline_predictor(pipeline: Pipeline, features: pl.Schema) -> Predict:
    """The reference: exactly what batch scoring computes, on a frame of the model's types."""
    names = list(features)
    return lambda columns: pipeline.predict_proba(
        inputs(pl.DataFrame({f: columns[f] for f in names}, schema=features), names))[:, 1]


def _identity(transformer: object) -> bool:
    return transformer == "passthrough" or (
        isinstance(transformer, FunctionTransformer) and transformer.func is None
    )


def _one_hot(encoder: OneHotEncoder, names: list[str]) -> Block | None:
    """A plain OneHotEncoder (unknown values ignored, nothing dropped or grouped) as dict
    lookups: its own `transform` spends a millisecond validating a one-row frame."""
    if (encoder.drop is not None or encoder.handle_unknown != "ignore" or encoder.sparse_output
            or encoder.min_frequency is not None or encoder.max_categories is not None):
        return None
    offsets = np.cumsum([0, *(len(c) for c in encoder.categories_)]).tolist()
    positions = [
        {None if isinstance(v, float) and np.isnan(v) else v: offset + i
         for i, v in enumerate(categories)}
        for offset, categories in zip(offsets[:-1], encoder.categories_, strict=True)
    ]

    def transform(columns: Columns) -> np.ndarray:
        rows = len(columns[names[0]])
        out = np.zeros((rows, offsets[-1]), dtype=encoder.dtype)
        for name, position in zip(names, positions, strict=True):
            for row, value in enumerate(columns[name]):
                index = position.get(value)
                if index is not None:
                    out[row, index] = 1
        return out

    return transform


def numbers_block(names: list[str], features: pl.Schema) -> Block:
    """Columns as float64, each first held in its own type's precision (a Float32 input is
    rounded to float32, as the frame batch scoring builds holds it)."""
    narrow = [i for i, n in enumerate(names) if features[n] == pl.Float32]

    def block(columns: Columns) -> np.ndarray:
        out = np.array([columns[n] for n in names], dtype=np.float64)
        if narrow:
            out[narrow] = out[narrow].astype(np.float32)
        return out.T

    return block


def _block(transformer: object, names: list[str], features: pl.Schema) -> Block:
    if _identity(transformer):
        return numbers_block(names, features)
    one_hot = _one_hot(transformer, names) if isinstance(transformer, OneHotEncoder) else None
    if one_hot is not None:
        return one_hot
    schema = pl.Schema({n: features[n] for n in names})
    return lambda columns: transformer.transform(
        pl.DataFrame({n: columns[n] for n in names}, schema=schema).to_pandas())


class NoFastPath(ValueError):
    """A pipeline of a shape the fast path does not handle; the message says which part."""


def _names(encode: ColumnTransformer, part: str, columns: object) -> list[str]:
    """The input columns a part of the transformer selects, by name: names as they are, and
    positions (scikit-learn gives the remainder's as positions when no other part selects a
    column) through the names the transformer was fitted on. NoFastPath for another
    selector (a mask, a slice, a callable)."""
    fitted = list(getattr(encode, "feature_names_in_", []))
    if isinstance(columns, list) and all(isinstance(c, str) for c in columns):
        return columns
    if isinstance(columns, list) and all(
            isinstance(c, int) and not isinstance(c, bool) and 0 <= c < len(fitted)
            for c in columns):
        return [fitted[c] for c in columns]
    raise NoFastPath(f"its ColumnTransformer's part {part!r} selects columns by "
                     f"{type(columns).__name__}, not by name")


def _blocks(encode: ColumnTransformer, features: pl.Schema) -> list[Block]:
    """The transformer's parts by column name (a part that selects no column adds none);
    NoFastPath if it is not a shape handled here."""
    if getattr(encode, "sparse_output_", True):
        raise NoFastPath("its ColumnTransformer's output is sparse")
    return [_block(transformer, names, features)
            for part, transformer, columns in encode.transformers_ if transformer != "drop"
            if (names := _names(encode, part, columns))]


def fast_predictor(pipeline: Pipeline, features: pl.Schema) -> Predict:
    """The fast path of a ColumnTransformer then a classifier; NoFastPath (saying why) for a
    pipeline of another shape."""
    steps = [type(step).__name__ for _, step in pipeline.steps]
    if len(steps) != 2 or not isinstance(pipeline.steps[0][1], ColumnTransformer):
        raise NoFastPath(f"the pipeline is not a ColumnTransformer then a classifier (its "
                         f"steps: {', '.join(steps)})")
    encode, classifier = pipeline.steps[0][1], pipeline.steps[1][1]
    blocks = _blocks(encode, features)
    if not blocks:
        raise NoFastPath("its ColumnTransformer selects no column")
    if not hasattr(classifier, "predict_proba"):
        raise NoFastPath(f"its classifier {steps[1]} has no predict_proba")
    probabilities = tree_probabilities(classifier) or (
        lambda encoded: classifier.predict_proba(encoded)[:, 1])
    return lambda columns: probabilities(np.hstack([b(columns) for b in blocks]))


def compile_predictor(
    pipeline: Pipeline, features: pl.Schema, example: pd.DataFrame | None
) -> tuple[Predict, str | None]:
    """The fastest predictor that equals the pipeline on `example` (plus an all-null row);
    returns it and why it is not the fast path (one line naming the pipeline's shape, the
    missing example, or a difference on it; never a value of the example), None when it is."""
    reference = pipeline_predictor(pipeline, features)
    try:
        fast = fast_predictor(pipeline, features)
    except NoFastPath as reason:
        return reference, str(reason)
    if example is None or example.empty:
        return reference, ("no input example was logged with the model (the fast path must "
                           "reproduce the pipeline on it)")
    rows = pl.from_pandas(example[list(features)]).cast(dict(features))
    columns = pl.concat([rows, rows.clear(1)]).to_dict(as_series=False)
    try:
        same = np.array_equal(fast(columns), reference(columns))
    except (ValueError, TypeError, pl.exceptions.PolarsError) as error:
        return reference, (f"the fast path failed on the logged input example "
                           f"({type(error).__name__})")  # its message may quote a value
    return (fast, None) if same else (reference, "the fast path's probabilities differ from "
                                      "the pipeline's on the logged input example")
