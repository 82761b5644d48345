"""Model quality of an inference-log monitor: the labels of scored rows, the realized metrics
per window and slice, the label-free estimate beside them, and Databricks' fairness metrics.

Labels (`with_labels`) come from the monitored table's own label column, or arrive later in
another table (`LabelJoin`): a scored row takes the label of the same keys whose label time is
nearest its timestamp, within the tolerance; a row whose label has not arrived keeps a NULL
label, never dropped.

Choosing the tolerance: 0 judges a score only by a label observed at exactly its time (the
pairing a training set makes of a label and the features as of its time): exact, but only
for scores stamped at observation times. Half the label cadence labels every score by the
nearest observation, but when labels exist only for keys still at risk at their time (active
customers, say), a label observed after the score misses the keys that left in between (the
earliest positives) and one observed before counts keys already gone (the easiest): a biased
mix. A domain's monitor declaration states its choice and why.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
from sklearn import metrics

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.ml.evaluate import calibration_error
from lakehouse_ml.monitoring.cbpe import CBPE
from lakehouse_ml.monitoring.schema import QUALITY
from lakehouse_ml.monitoring.spec import InferenceLog, LabelJoin
from lakehouse_ml.monitoring.windows import utc_time

LABEL = "label"
LOG_LOSS_CLIP = 1e-7
"""Probabilities are clipped to [1e-7, 1 - 1e-7] for the log loss (as at training)."""
CALIBRATION_BINS = 10
FAIRNESS = ("predictive_parity", "predictive_equality", "equal_opportunity",
            "statistical_parity")
_ROW = "__quality_row"


def _as_label(column: pl.Expr, dtype: pl.DataType, where: str) -> pl.Expr:
    """Booleans as they are; numbers 1 → True, 0 → False, anything else (NaN too) → NULL."""
    if dtype == pl.Boolean:
        return column
    if dtype.is_numeric():
        return pl.when(column == 1).then(True).when(column == 0).then(False)
    raise ValueError(f"{where} is {dtype}: a label or prediction must be a boolean or a 0/1 "
                     "number")


def _labels(catalog: Catalog, join: LabelJoin, frame: pl.DataFrame, start: datetime,
            end: datetime, notes: list[str]) -> pl.DataFrame:
    """The label table's rows (keys, `time`, `label`) with a label, whose time may match a
    scored row in [start, end] (aware UTC); one row per keys and time (NULL label where they
    disagree). Appends to `notes` how many of those rows hold a value that is no label and how
    many (keys, time) pairs disagree."""
    schema = catalog.schema(join.table)
    missing = [c for c in (*join.keys, join.time_column, join.label) if c not in schema]
    if missing:
        raise ValueError(f"labels table {join.table} has no column {', '.join(missing)} "
                         f"(columns: {', '.join(schema)})")
    where = f"labels table {join.table}"
    for key in join.keys:
        theirs, ours = schema[key], frame.schema[key]
        if theirs != ours and not (theirs.is_numeric() and ours.is_numeric()):
            raise ValueError(f"{where} column {key!r} is {theirs}, the scored rows' {ours}")
    time = utc_time(join.time_column, schema[join.time_column], where)
    label = _as_label(pl.col(join.label), schema[join.label], f"{where} column {join.label!r}")
    keys = [pl.col(k).cast(frame.schema[k]) for k in join.keys]
    rows = (catalog.scan(join.table)
            .select(*keys, time.alias("time"), label.alias(LABEL),
                    (pl.col(join.label).is_not_null() & label.is_null()).alias("_invalid"))
            .filter(pl.col("time").is_between(pl.lit(start) - join.tolerance,
                                               pl.lit(end) + join.tolerance))
            .collect())
    invalid = int(rows["_invalid"].sum())
    labels = (rows.drop("_invalid").drop_nulls().group_by(*join.keys, "time")
              .agg(pl.when(pl.col(LABEL).n_unique() == 1).then(pl.col(LABEL).first())
                   .alias(LABEL))
              .sort("time"))
    conflicts = labels[LABEL].null_count()
    if invalid:
        notes.append(f"{where}: {invalid} rows of column {join.label!r} hold a value that is "
                     "no label (not true/false/0/1): ignored")
    if conflicts:
        notes.append(f"{where}: {conflicts} (keys, {join.time_column}) pairs have conflicting "
                     "labels: no label for them")
    return labels


def _nearest(scored: pl.DataFrame, labels: pl.DataFrame, keys: list[str],
             tolerance: timedelta) -> pl.DataFrame:
    """`scored` (row index, keys, `time`) with the label of the nearest label time within
    `tolerance`, the earlier one at equal distance; NULL when none."""
    found = []
    for strategy in ("backward", "forward"):
        found.append(scored.join_asof(
            labels.with_columns(pl.col("time").alias("label_time")), on="time", by=keys,
            strategy=strategy, tolerance=tolerance,  # both sorted by time: nothing to check
        ).select(_ROW, (pl.col("label_time") - pl.col("time")).abs().alias("gap"), LABEL))
    before, after = found
    both = before.join(after, on=_ROW, suffix="_after")
    later_is_nearer = pl.col("gap").is_null() | (pl.col("gap_after") < pl.col("gap"))
    return both.select(_ROW, pl.when(later_is_nearer).then(pl.col(f"{LABEL}_after"))
                       .otherwise(pl.col(LABEL)).alias(LABEL))


def with_labels(catalog: Catalog, frame: pl.DataFrame, spec: InferenceLog,
                timestamp_col: str, notes: list[str] | None = None) -> pl.DataFrame:
    """`frame` plus a Boolean `label` column (replacing one of that name), NULL until the
    label arrives; same rows, same order.

    From `spec.label_col` of `frame` itself, or joined from `spec.labels`: per row, the label
    table's row with the same keys whose time is nearest `timestamp_col`, within the
    tolerance, both directions, the earlier at equal distance; a row with a NULL key or time,
    or no label within the tolerance (or no label table yet), gets NULL. Labels may be booleans
    or 0/1 numbers (other values are NULL); two rows of the label table at the same keys and
    time that disagree give NULL (duplicates that agree count once); `notes` (when given)
    receives how many label rows were ignored for either. All NULL when the spec declares
    neither. ValueError naming the table and column for a missing column or a label, key or
    time of the wrong type."""
    base = frame.drop(LABEL, strict=False)
    if spec.label_col is not None:
        where = f"label column {spec.label_col!r}"
        return base.with_columns(_as_label(pl.col(spec.label_col), frame.schema[spec.label_col],
                                           where).alias(LABEL))
    if spec.labels is None:
        return base.with_columns(pl.lit(None, pl.Boolean).alias(LABEL))
    join, keys = spec.labels, list(spec.labels.keys)
    missing = [k for k in keys if k not in frame.columns]
    if missing:
        raise ValueError(f"labels of {join.table}: the scored rows have no key column "
                         f"{', '.join(missing)} (columns: {', '.join(frame.columns)})")
    time = utc_time(timestamp_col, frame.schema[timestamp_col], "scored rows")
    scored = (base.with_row_index(_ROW).select(_ROW, *keys, time.alias("time"))
              .drop_nulls().sort("time"))
    if scored.is_empty() or not catalog.exists(join.table):  # no label has landed yet
        return base.with_columns(pl.lit(None, pl.Boolean).alias(LABEL))
    labels = _labels(catalog, join, base, scored["time"].min(), scored["time"].max(),
                     notes if notes is not None else [])
    matched = _nearest(scored, labels, keys, join.tolerance)
    return (base.with_row_index(_ROW).join(matched, on=_ROW, how="left", maintain_order="left")
            .drop(_ROW))


def _predicted(frame: pl.DataFrame, spec: InferenceLog) -> pl.Series:
    """Predicted positive: probability >= spec.threshold when there is a probability column,
    else the prediction column (boolean or 0/1)."""
    if spec.probability_col is not None:
        return frame[spec.probability_col].cast(pl.Float64).fill_nan(None).ge(spec.threshold)
    column = spec.prediction_col
    return frame.select(_as_label(pl.col(column), frame.schema[column],
                                  f"prediction column {column!r}")).to_series()


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def quality_columns(frame: pl.DataFrame, spec: InferenceLog,
                    estimator: CBPE | None) -> dict[str, float | int | None]:
    """The QUALITY columns (schema.QUALITY, fairness excluded) of one window and slice of rows
    carrying `label` (see `with_labels`).

    Over the rows with a label (`label_count` of them) and a finite probability: `roc_auc`
    (scikit-learn's), `pr_auc` (average precision, scikit-learn's), both NULL unless both
    classes are present; `log_loss` (natural log, probabilities clipped to [1e-7, 1 − 1e-7]);
    `calibration_error`: expected calibration error over 10 equal-width probability bins,
    Σ_b (n_b / n) · |mean label_b − mean probability_b| (`ml.evaluate.calibration_error`, as
    logged at training). Over the rows with a label and a prediction (probability ≥
    spec.threshold, or the prediction column when there is no probability): `precision`
    TP/(TP+FP), `recall` TP/(TP+FN), `f1_score` 2TP/(2TP+FP+FN), each NULL when its
    denominator is 0. `estimated_roc_auc`: the estimator's label-free estimate over every row
    with a finite probability, labelled or not (NULL without an estimator or probability).
    Realized metrics are NULL when no row is labelled."""
    label = frame[LABEL]
    labelled = label.is_not_null().to_numpy()
    predicted = _predicted(frame, spec)
    out: dict[str, float | int | None] = {name: None for name in QUALITY
                                          if name not in FAIRNESS}
    out["label_count"] = int(labelled.sum())
    judged = labelled & predicted.is_not_null().to_numpy()
    if judged.any():
        y = label.to_numpy()[judged].astype(bool)
        yhat = predicted.to_numpy()[judged].astype(bool)
        scores = metrics.precision_recall_fscore_support(
            y, yhat, average="binary", zero_division=np.nan)[:3]
        out.update({name: None if np.isnan(value) else float(value)
                    for name, value in zip(("precision", "recall", "f1_score"), scores,
                                           strict=True)})
    if spec.probability_col is None:
        return out
    p = frame[spec.probability_col].cast(pl.Float64).fill_null(np.nan).to_numpy()
    finite = np.isfinite(p)
    if estimator is not None:
        out["estimated_roc_auc"] = estimator.estimate_roc_auc(p[finite])
    scored = labelled & finite
    if scored.any():
        y, s = label.to_numpy()[scored].astype(int), p[scored]
        out["log_loss"] = float(metrics.log_loss(
            y, np.clip(s, LOG_LOSS_CLIP, 1 - LOG_LOSS_CLIP), labels=[0, 1]))
        out["calibration_error"] = calibration_error(y, s, CALIBRATION_BINS)
        if len(np.unique(y)) == 2:
            out["roc_auc"] = float(metrics.roc_auc_score(y, s))
            out["pr_auc"] = float(metrics.average_precision_score(y, s))
    return out


def fairness_columns(frame: pl.DataFrame, member: pl.Series,
                     spec: InferenceLog) -> dict[str, float | None]:
    """Databricks Lakehouse Monitoring's fairness metrics of a boolean slice: the rows where
    `member` (Boolean, one per row of `frame`) is True are the protected group, those where it
    is False the rest (NULL: in neither). Each is the member group's rate minus the rest's
    (0: parity; in [-1, 1]), for the positive class:

    - `predictive_parity`: precision TP/(TP+FP), over labelled rows;
    - `predictive_equality`: false positive rate FP/(FP+TN), over labelled rows;
    - `equal_opportunity`: recall (true positive rate) TP/(TP+FN), over labelled rows;
    - `statistical_parity`: positive prediction rate (TP+FP)/n, over every row with a
      prediction (it needs no label).

    A metric is NULL when its rate is undefined in either group (a zero denominator). Predicted
    positive as in `quality_columns`. Source: Databricks, "Monitor fairness and bias for
    classification models" (the slice's True rows are the protected group; definitions after
    Verma and Rubin, "Fairness Definitions Explained", 2018); Databricks stores a map per
    class (one-vs-all), a binary classifier here its positive class as one number."""
    if member.len() != frame.height:
        raise ValueError(f"fairness_columns: member has {member.len()} values for "
                         f"{frame.height} rows")
    predicted = _predicted(frame, spec)
    label = frame[LABEL]
    rates: dict[bool, dict[str, float | None]] = {}
    for side in (True, False):
        rows = (member == side).fill_null(False) & predicted.is_not_null()
        yhat = predicted.filter(rows).to_numpy().astype(bool)
        judged = label.filter(rows).is_not_null().to_numpy()
        y, yh = label.filter(rows).to_numpy()[judged].astype(bool), yhat[judged]
        tp, fp = int((y & yh).sum()), int((~y & yh).sum())
        fn, tn = int((y & ~yh).sum()), int((~y & ~yh).sum())
        rates[side] = {"predictive_parity": _ratio(tp, tp + fp),
                       "predictive_equality": _ratio(fp, fp + tn),
                       "equal_opportunity": _ratio(tp, tp + fn),
                       "statistical_parity": _ratio(int(yhat.sum()), yhat.size)}
    return {name: (None if rates[True][name] is None or rates[False][name] is None
                   else rates[True][name] - rates[False][name]) for name in FAIRNESS}
