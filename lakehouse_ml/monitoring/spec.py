"""Monitor declarations, as a domain writes them (`MONITORS` in its package).

The vocabulary is Databricks Lakehouse Monitoring's: a monitor watches one table with a profile
type (`snapshot`, `time_series`, `inference_log`), a granularity, slicing expressions and a
baseline, and writes `monitoring.<schema>_<table>_profile_metrics` and
`..._drift_metrics`. Databricks names the metric tables `<table>_...` inside the output schema;
the source schema is prefixed here because two domains may each have, e.g., `predictions`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

import polars as pl

from lakehouse_ml.monitoring.schema import DRIFT_METRICS

ProfileType = Literal["snapshot", "time_series", "inference_log"]
OUTPUT_SCHEMA = "monitoring"
MIN_GRANULARITY = timedelta(minutes=1)
MAX_GRANULARITY = timedelta(days=366)
"""Granularities a monitor may declare (Databricks offers 5 minutes to 1 year): a finer one
makes a window per row, a coarser one cannot be placed on the calendar."""
MAX_SLICING_EXPRS = 20
"""Slicing expressions per monitor (each multiplies the profile and drift rows)."""


def _finite(where: str, **values: float | None) -> None:
    for name, value in values.items():
        if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
            raise ValueError(f"{where}: {name} must be a finite number, got {value!r}")


def known_metric(metric: str) -> bool:
    """True when `metric` is a numeric drift-metrics column (`js_distance`) or a field of a
    test's struct (`ks_test.pvalue`)."""
    column, _, field_name = metric.partition(".")
    dtype = DRIFT_METRICS.get(column)
    if dtype is None or not field_name:
        return dtype is not None and dtype.is_numeric()
    return isinstance(dtype, pl.Struct) and field_name in {f.name for f in dtype.fields}


@dataclass(frozen=True)
class DriftThreshold:
    """When a drift metric flags a column: `WARN` at `warn`, `ERROR` at `error`.

    `metric` names a drift-metrics column, or a struct field as `ks_test.pvalue`. For p-values
    a smaller value is worse (flagged when value <= threshold); for distances a larger one
    (flagged when value >= threshold)."""

    metric: str
    warn: float
    error: float
    max_pvalue: float | None = None
    """When set, a column is flagged only if its KS test p-value (numeric) or chi-squared test
    p-value (categorical) is also at or below it: a distance between small windows is noisy,
    and the test says whether the samples can tell. A NULL p-value leaves `metric` alone."""

    def __post_init__(self) -> None:
        """ValueError naming the metric for a NaN or infinite bound, a p-value bound outside
        0..1, a negative distance bound, or WARN past ERROR (a metric that is no drift-metrics
        column is named where it is read, `levels.metric_value`)."""
        where = f"drift threshold {self.metric!r}"
        _finite(where, warn=self.warn, error=self.error, max_pvalue=self.max_pvalue)
        if self.max_pvalue is not None and not 0 <= self.max_pvalue <= 1:
            raise ValueError(f"{where}: max_pvalue must be in [0, 1], got {self.max_pvalue}")
        if not known_metric(self.metric):
            return
        if self.lower_is_worse:
            if not (0 <= self.error <= self.warn <= 1):
                raise ValueError(f"{where}: p-value bounds need 0 <= error <= warn <= 1, got "
                                 f"warn={self.warn}, error={self.error}")
        elif not (0 <= self.warn <= self.error) and not self.metric.endswith("_delta"):
            raise ValueError(f"{where}: distance bounds need 0 <= warn <= error, got "
                             f"warn={self.warn}, error={self.error}")

    @property
    def lower_is_worse(self) -> bool:
        return self.metric.endswith("pvalue")


DEFAULT_THRESHOLD = DriftThreshold("js_distance", warn=0.1, error=0.2)
"""Default for every column a monitor declares no threshold for: Jensen-Shannon distance
(base 2, in [0, 1]) of the binned distributions (numeric: over the reference's deciles or
distinct values; categorical and boolean: of the category frequencies; `drift.py`). Stricter
than Evidently's default, 0.1 on the base-e distance: a base-2 distance is the base-e one
divided by √ln 2, so Evidently's 0.1 is `js_distance` ≈ 0.120 here and this 0.1 is ≈ 0.083
in Evidently's terms."""


@dataclass(frozen=True)
class ChampionTrainingSet:
    """Baseline: the training set of `model`'s champion at the Delta versions it pinned."""

    model: str


@dataclass(frozen=True)
class BaselineTable:
    """Baseline: a table (`schema.table`), at a Delta version or its latest."""

    table: str
    version: int | None = None


Baseline = ChampionTrainingSet | BaselineTable


@dataclass(frozen=True)
class LabelJoin:
    """Labels that arrive later in another table: a scored row's label is the row of `table`
    with the same `keys` whose `time_column` lies within `tolerance` of the scored row's
    timestamp (nearest first)."""

    table: str
    keys: tuple[str, ...]
    time_column: str
    label: str
    tolerance: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError(f"labels of {self.table}: keys must name at least one column")
        if not timedelta(0) <= self.tolerance <= MAX_GRANULARITY:
            raise ValueError(f"labels of {self.table}: tolerance must be in {timedelta(0)} .. "
                             f"{MAX_GRANULARITY}, got {self.tolerance}")


@dataclass(frozen=True)
class InferenceLog:
    """What an `inference_log` monitor reads from each row (binary classification)."""

    model_id_col: str
    prediction_col: str
    probability_col: str | None = None
    label_col: str | None = None
    """The label in the monitored table itself; or give `labels`."""
    labels: LabelJoin | None = None
    threshold: float = 0.5
    """The serving threshold: precision, recall and F1 are computed at it."""
    model: str | None = None
    """The model (its `ModelSpec.name`) that wrote the rows: its champion's holdout calibrates
    the label-free quality estimate."""

    def __post_init__(self) -> None:
        _finite("inference log", threshold=self.threshold)
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"inference log: threshold must be in [0, 1], got "
                             f"{self.threshold}")


@dataclass(frozen=True)
class Monitor:
    """One monitored table. Columns profiled: `columns`, or every column except the timestamp,
    the inference-log id columns and `exclude`."""

    table: str
    """`schema.table` of the monitored table."""
    profile_type: ProfileType
    timestamp_col: str | None = None
    """Required for `time_series` and `inference_log`: the column that places a row in a window."""
    granularity: timedelta = timedelta(days=1)
    slicing_exprs: tuple[str, ...] = ()
    """Column names or SQL boolean/scalar expressions; each distinct value is a slice."""
    columns: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    """Numeric columns to treat as categories (strings and booleans always are)."""
    baseline: Baseline | None = None
    """None: only CONSECUTIVE drift (each window against the one before)."""
    inference_log: InferenceLog | None = None
    thresholds: Mapping[str, DriftThreshold] = field(default_factory=dict)
    """Column name → threshold; columns not named get `DEFAULT_THRESHOLD`."""
    freshness: timedelta | None = None
    """The monitored table must have a row (by `timestamp_col`) or a commit this recent."""

    def __post_init__(self) -> None:
        where = f"monitor of {self.table}"
        if self.profile_type in ("time_series", "inference_log") and not self.timestamp_col:
            raise ValueError(f"{where}: a {self.profile_type} monitor needs timestamp_col")
        if (self.profile_type == "inference_log") != (self.inference_log is not None):
            raise ValueError(f"{where}: inference_log is given exactly for profile_type "
                             "'inference_log'")
        schema, _, name = self.table.partition(".")
        if not schema or not name or "." in name:
            raise ValueError(f"{where}: table must be 'schema.table'")
        if not MIN_GRANULARITY <= self.granularity <= MAX_GRANULARITY:
            raise ValueError(f"{where}: granularity must be in {MIN_GRANULARITY} .. "
                             f"{MAX_GRANULARITY}, got {self.granularity}")
        if len(self.slicing_exprs) > MAX_SLICING_EXPRS:
            raise ValueError(f"{where}: {len(self.slicing_exprs)} slicing expressions (at most "
                             f"{MAX_SLICING_EXPRS})")
        for label, items in (("slicing_exprs", self.slicing_exprs),
                             ("columns", self.columns or ())):
            twice = sorted({item for item in items if items.count(item) > 1})
            if twice or any(not str(item).strip() for item in items):
                raise ValueError(f"{where}: {label} must be distinct and not blank, got "
                                 f"{', '.join(map(repr, twice or items))}")
        if self.freshness is not None and self.freshness <= timedelta(0):
            raise ValueError(f"{where}: freshness must be positive, got {self.freshness}")

    @property
    def metric_table_prefix(self) -> str:
        schema, name = self.table.split(".")
        return f"{OUTPUT_SCHEMA}.{schema}_{name}"

    @property
    def profile_metrics_table(self) -> str:
        return f"{self.metric_table_prefix}_profile_metrics"

    @property
    def drift_metrics_table(self) -> str:
        return f"{self.metric_table_prefix}_drift_metrics"

    def threshold(self, column: str) -> DriftThreshold:
        """The threshold declared for `column`, else `DEFAULT_THRESHOLD`."""
        return self.thresholds.get(column, DEFAULT_THRESHOLD)


@dataclass(frozen=True)
class RetrainingPolicy:
    """When `model`'s drift sensor launches its train-validate-deploy job: at least
    `min_columns` of the model's input columns drift at `on_drift_level` or worse against the
    baseline in the latest window, or the latest window's ROC AUC (realized, else estimated)
    falls below `min_roc_auc`. One launch per drift episode, at most one per `cooldown`."""

    model: str
    on_drift_level: Literal["WARN", "ERROR"] | None = "ERROR"
    min_columns: int = 1
    min_roc_auc: float | None = None
    cooldown: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        where = f"retraining policy of {self.model}"
        if self.min_columns < 1:
            raise ValueError(f"{where}: min_columns must be at least 1, got {self.min_columns}")
        _finite(where, min_roc_auc=self.min_roc_auc)
        if self.min_roc_auc is not None and not 0 <= self.min_roc_auc <= 1:
            raise ValueError(f"{where}: min_roc_auc must be in [0, 1], got {self.min_roc_auc}")
        if self.cooldown < timedelta(0):
            raise ValueError(f"{where}: cooldown must not be negative, got {self.cooldown}")
