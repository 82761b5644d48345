"""Fit the declared scikit-learn pipeline on the earlier label times; keep the later ones out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from lakehouse_ml.ml.spec import ModelSpec


class TrainingDataError(ValueError):
    """The labelled rows cannot train and evaluate a model, said in one line naming the model,
    its training set, how many labelled rows and label times it has and what is missing:
    raised before anything is fitted (scikit-learn and numpy would fail on such input with a
    message about array shapes, or fit a model that predicts one class)."""


MIN_LABELLED = 4
"""Labelled rows a model needs at least: over at least 2 label times, each side of the time
split holding both label values (fitting needs both; the holdout's ROC AUC and the
calibration of monitoring too)."""


@dataclass(frozen=True)
class TrainedModel:
    pipeline: Pipeline
    features: list[str]
    train: pl.DataFrame
    holdout: pl.DataFrame
    truncated_rows: int = 0
    """Labelled rows with a truncated feature window (left out unless the spec keeps them)."""


def time_split(frame: pl.DataFrame, time_column: str, holdout: float | datetime
               ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(train, holdout) rows: train strictly before the cutoff, holdout at or after it.

    `holdout` is the cutoff instant (time-zone aware), or the share of the latest distinct label
    times to hold out. Raises `ValueError` when either side would be empty.
    """
    times = frame[time_column].unique().sort()
    if isinstance(holdout, datetime):
        where = f"holdout_start {holdout.isoformat()}"
        zone = getattr(frame.schema[time_column], "time_zone", None)
        if zone is None:
            raise ValueError(f"{where}: {time_column} ({frame.schema[time_column]}) is not a "
                             "time-zone aware datetime")
        cutoff = holdout.astimezone(ZoneInfo(zone))
    else:
        if times.len() < 2:
            raise ValueError(f"time split needs at least two distinct {time_column} values, "
                             f"got {times.len()}")
        held = min(times.len() - 1, max(1, round(times.len() * holdout)))
        cutoff, where = times[-held], f"holdout_fraction {holdout}"
    train_rows = frame.filter(pl.col(time_column) < cutoff)
    holdout_rows = frame.filter(pl.col(time_column) >= cutoff)
    span = (f"{time_column} spans {times.min()} to {times.max()}" if times.len()
            else "there are no labelled rows")
    for side, rows in (("training", train_rows), ("holdout", holdout_rows)):
        if rows.is_empty():
            raise ValueError(f"{where} leaves no {side} rows ({span})")
    return train_rows, holdout_rows


def inputs(frame: pl.DataFrame, features: list[str]) -> pd.DataFrame:
    """The model's input frame (pandas, as scikit-learn and MLflow signatures expect)."""
    return frame.select(features).to_pandas()


def build_pipeline(spec: ModelSpec, features: list[str]) -> Pipeline:
    categorical = [c for c in spec.categorical if c in features]
    encode = ColumnTransformer(
        [("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
          categorical)],
        remainder="passthrough", verbose_feature_names_out=False,
    )
    return Pipeline([("encode", encode),
                     ("classifier", HistGradientBoostingClassifier(**spec.params))])


def model_inputs(spec: ModelSpec, schema: pl.Schema) -> list[str]:
    """The training set's feature columns: numbers and booleans, or declared `categorical`.
    ValueError naming the first other column (a time, a string, ...): never fed silently."""
    features = spec.feature_columns(list(schema))
    for column in features:
        dtype = schema[column]
        if column not in spec.categorical and not (dtype.is_numeric() or dtype == pl.Boolean):
            raise ValueError(f"model {spec.name!r}: column {column!r} of "
                             f"{spec.training_set.name} is {dtype}, not a number: list it in "
                             "not_features (or in categorical, if it is a category)")
    return features


def check_named_columns(spec: ModelSpec, schema: pl.Schema) -> None:
    """ValueError naming the model, the field and the column when `spec.slices` or
    `spec.categorical` names a column the training set (`schema`) lacks, or `categorical` one
    that is not a model input (`not_features`, the label or an engine column): it would be
    left out silently. Load refuses these already when the training set's columns are known
    from declarations (`domains.references.training_columns`); this is for the others."""
    inputs = set(spec.feature_columns(list(schema)))
    where = f"model {spec.name!r}"
    for attribute, named in (("categorical", spec.categorical), ("slices", spec.slices)):
        for column in named:
            if column not in schema:
                raise ValueError(f"{where}: {attribute} names {column!r}, not a column of "
                                 f"its training set {spec.training_set.name} "
                                 f"({', '.join(sorted(schema))})")
            if attribute == "categorical" and column not in inputs:
                raise ValueError(f"{where}: categorical names {column!r}, which is not a "
                                 "model input (not_features, the label or a time column): it "
                                 "would not be encoded")


def labelled_split(spec: ModelSpec, frame: pl.DataFrame,
                   holdout: float | datetime | None = None
                   ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(train, holdout) of `frame`'s labelled rows, by `time_split` at `holdout` (default: the
    spec's): the split training uses, and the one a monitor recomputes a champion's holdout
    with."""
    labelled = frame.filter(pl.col(spec.training_set.label).is_not_null())
    return time_split(labelled, spec.training_set.time_column,
                      spec.holdout if holdout is None else holdout)


def _label_sides(spec: ModelSpec, train_rows: pl.DataFrame, holdout: pl.DataFrame
                 ) -> str | None:
    """Why a side of the split cannot serve (a single label value), or None."""
    label = spec.training_set.label
    for side, rows, need in (("training", train_rows, "fitting"),
                             ("holdout", holdout, "the holdout's ROC AUC and calibration")):
        values = rows[label].unique().drop_nulls().sort().to_list()
        if len(values) < 2:
            return (f"the {rows.height} {side} row(s) hold only {label}={values[0]!r}: "
                    f"{need} needs both label values (at least {MIN_LABELLED} labelled rows "
                    "over 2 label times, each side of the split holding both)")
    return None


def _without_values(rows: pl.DataFrame, features: list[str], categorical: tuple[str, ...]
                    ) -> list[str]:
    """The numeric feature columns of `rows` that hold no value (only nulls or NaN)."""
    empty = []
    for column in (c for c in features if c not in categorical):
        values = rows[column].drop_nulls()
        if values.dtype.is_float():
            values = values.filter(~values.is_nan())
        if values.is_empty():
            empty.append(column)
    return empty


def train(spec: ModelSpec, frame: pl.DataFrame, truncated: pl.Series | None = None
          ) -> TrainedModel:
    """Fit `spec`'s pipeline on `frame`'s labelled rows before the holdout cutoff.
    `truncated`: Boolean per row of `frame` (`ml.windows.truncated_rows`; None: none is),
    rows left out before the split unless `spec.keep_truncated_windows`.

    ValueError first when a `slices` or `categorical` column is not one of `frame`'s
    (`check_named_columns`). TrainingDataError (a ValueError), before anything is fitted,
    naming the model, the training set, its labelled rows and label times: when either side
    of the split is empty, holds a single label value, or a numeric feature column has no
    value in the training rows (and how many truncated rows were left out, when that is
    why)."""
    check_named_columns(spec, frame.schema)
    truncated = (pl.Series([False] * frame.height, dtype=pl.Boolean) if truncated is None
                 else truncated)
    label, time = spec.training_set.label, spec.training_set.time_column
    labelled = truncated.filter(frame[label].is_not_null())
    count = int(labelled.sum())
    kept = frame if spec.keep_truncated_windows else frame.filter(~truncated)
    rows = kept.filter(pl.col(label).is_not_null())
    times = rows[time].n_unique()
    head = (f"model {spec.name!r}: training set {spec.training_set.name} has {rows.height} "
            f"labelled row(s) over {times} label time(s) ({time})")
    if kept.height != frame.height:
        head += (f", after leaving out {count} labelled rows whose feature windows start "
                 "before their tables' history (keep_truncated_windows keeps them)")
    try:
        train_rows, holdout = labelled_split(spec, kept)
    except ValueError as error:
        raise TrainingDataError(f"{head}; {error}") from error
    features = model_inputs(spec, frame.schema)
    if (why := _label_sides(spec, train_rows, holdout)) is not None:
        raise TrainingDataError(f"{head}; {why}")
    if empty := _without_values(train_rows, features, spec.categorical):
        raise TrainingDataError(
            f"{head}; feature column(s) {', '.join(empty)} hold no value in the "
            f"{train_rows.height} training row(s): list them in not_features, or land the "
            "data they are computed from")
    model = build_pipeline(spec, features)
    model.fit(inputs(train_rows, features), train_rows[label].to_numpy())
    return TrainedModel(model, features, train_rows, holdout, count)
