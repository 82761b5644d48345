"""Probabilities from a fitted pipeline, fast on the few rows a request carries.

`pipeline.predict_proba` on a pandas frame of one row spends most of its time converting every
column to pandas and in the ColumnTransformer's bookkeeping, not in the model. For the shape
`ml/train.py` builds (a dense ColumnTransformer, then a classifier) the fast path takes the
passthrough columns from polars as float64 (what the transformer's stacking yields anyway),
one-hot encodes by dict lookup, hands any other fitted transformer only its own columns (as
pandas, the type it was fitted on), and calls the classifier on the stacked array. It is used
only if it reproduces the pipeline's own output bit for bit on the model's logged input
example plus an all-null row; otherwise the pipeline is called as in batch scoring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from lakehouse_ml.ml.train import inputs

Predict = Callable[[pl.DataFrame], np.ndarray]
"""Frame holding the model's features → probability of the positive class, per row."""

Block = Callable[[pl.DataFrame], np.ndarray]
"""One part of the ColumnTransformer: the batch frame → its dense output columns."""


def pipeline_predictor(pipeline: Pipeline, features: Sequence[str]) -> Predict:
    """The reference: exactly what batch scoring computes."""
    return lambda frame: pipeline.predict_proba(inputs(frame, list(features)))[:, 1]


def _identity(transformer: object) -> bool:
    return transformer == "passthrough" or (
        isinstance(transformer, FunctionTransformer) and transformer.func is None
    )


def _one_hot(encoder: OneHotEncoder) -> Block | None:
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

    def transform(frame: pl.DataFrame) -> np.ndarray:
        out = np.zeros((frame.height, offsets[-1]), dtype=encoder.dtype)
        for column, position in zip(frame.iter_columns(), positions, strict=True):
            for row, value in enumerate(column.to_list()):
                index = position.get(value)
                if index is not None:
                    out[row, index] = 1
        return out

    return transform


def _block(transformer: object, names: list[str]) -> Block:
    if _identity(transformer):
        return lambda frame: frame.select(names).cast(pl.Float64).to_numpy()
    one_hot = _one_hot(transformer) if isinstance(transformer, OneHotEncoder) else None
    if one_hot is not None:
        return lambda frame: one_hot(frame.select(names))
    return lambda frame: transformer.transform(frame.select(names).to_pandas())


def _blocks(encode: ColumnTransformer) -> list[Block] | None:
    """The transformer's parts by column name, or None if it is not a shape handled here."""
    if getattr(encode, "sparse_output_", True):
        return None
    blocks: list[Block] = []
    for _, transformer, columns in encode.transformers_:
        if transformer == "drop":
            continue
        names = [c for c in columns if isinstance(c, str)]
        if len(names) != len(columns):
            return None
        blocks.append(_block(transformer, names))
    return blocks


def fast_predictor(pipeline: Pipeline) -> Predict | None:
    if len(pipeline.steps) != 2 or not isinstance(pipeline.steps[0][1], ColumnTransformer):
        return None
    encode, classifier = pipeline.steps[0][1], pipeline.steps[1][1]
    blocks = _blocks(encode)
    if blocks is None or not hasattr(classifier, "predict_proba"):
        return None
    return lambda frame: classifier.predict_proba(np.hstack([b(frame) for b in blocks]))[:, 1]


def compile_predictor(
    pipeline: Pipeline, features: Sequence[str], example: pd.DataFrame | None
) -> tuple[Predict, bool]:
    """The fastest predictor that equals the pipeline on `example` (plus an all-null row);
    returns it and whether it is the fast path."""
    reference = pipeline_predictor(pipeline, features)
    fast = fast_predictor(pipeline)
    if fast is None or example is None or example.empty:
        return reference, False
    rows = pl.from_pandas(example[list(features)])
    rows = pl.concat([rows, rows.clear(1)])
    try:
        same = np.array_equal(fast(rows), reference(rows))
    except (ValueError, TypeError, pl.exceptions.PolarsError):
        same = False
    return (fast, True) if same else (reference, False)
