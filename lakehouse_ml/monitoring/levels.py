"""Drift levels: which columns and slices of a drift-metrics table cross their monitor's
thresholds (`WARN`, `ERROR`), for asset checks, reports and the retraining sensor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.monitoring.schema import (
    BASELINE,
    CONSECUTIVE,
    DRIFT_METRICS,
    TABLE_LEVEL,
    WINDOW,
)
from lakehouse_ml.monitoring.spec import DriftThreshold, Monitor, known_metric

WARN, ERROR = "WARN", "ERROR"
LEVELS = pl.Schema({
    "window": WINDOW, "slice_key": pl.String, "slice_value": pl.String,
    "column_name": pl.String, "metric": pl.String, "value": pl.Float64,
    "threshold": pl.Float64, "level": pl.String,
})
"""One row per flagged (window, slice, column): `threshold` is the one crossed (the ERROR one
for ERROR rows)."""
_CATEGORICAL_TYPES = ("str", "bool", "cat", "enum", "utf8")


def categorical(monitor: Monitor, column: str, data_type: str | None) -> bool:
    """True when `column` is treated as categories: declared so, or of a string, boolean,
    categorical or enum `data_type` (a polars dtype name, any case)."""
    return column in monitor.categorical or (
        data_type is not None and data_type.lower().startswith(_CATEGORICAL_TYPES))


def metric_value(metric: str) -> pl.Expr:
    """The drift-metrics expression of a `DriftThreshold.metric` (`js_distance`,
    `ks_test.pvalue`, ...); ValueError naming it when no such column or struct field exists."""
    if not known_metric(metric):
        raise ValueError(f"drift threshold metric {metric!r} is not a numeric drift-metrics "
                         "column or struct field (e.g. js_distance, ks_test.pvalue)")
    column, _, field = metric.partition(".")
    expr = pl.col(column).struct.field(field) if field else pl.col(column)
    return expr.cast(pl.Float64)


def _flag(rows: pl.DataFrame, threshold: DriftThreshold) -> pl.DataFrame:
    value = metric_value(threshold.metric)
    crossed = (lambda bound: value <= bound) if threshold.lower_is_worse else (
        lambda bound: value >= bound)
    level = (pl.when(crossed(threshold.error)).then(pl.lit(ERROR))
             .when(crossed(threshold.warn)).then(pl.lit(WARN)))
    if threshold.max_pvalue is not None:
        pvalue = pl.coalesce(metric_value("ks_test.pvalue"),
                             metric_value("chi_squared_test.pvalue"))
        level = pl.when(pvalue > threshold.max_pvalue).then(None).otherwise(level)
    return rows.select(
        "window", "slice_key", "slice_value", "column_name",
        pl.lit(threshold.metric).alias("metric"), value.alias("value"),
        pl.when(level == ERROR).then(pl.lit(threshold.error))
        .otherwise(pl.lit(threshold.warn)).cast(pl.Float64).alias("threshold"),
        level.alias("level"),
    ).filter(pl.col("level").is_not_null())


def drift_levels(drift: pl.DataFrame, monitor: Monitor, *,
                 drift_type: str = BASELINE) -> pl.DataFrame:
    """Rows of `drift` (DRIFT_METRICS columns) of `drift_type` flagged WARN or ERROR by the
    monitor's thresholds (`Monitor.threshold`: per column, else the default):
    LEVELS columns, sorted by window start, slice and column. A p-value is flagged at or below
    its threshold, a distance at or above, and with the threshold's `max_pvalue` only when the
    column's KS or chi-squared p-value is at or below it too (or NULL); a NULL metric (does
    not apply, too few rows) is never flagged; `:table` rows are not columns and are skipped.
    ValueError naming a threshold whose metric is not a drift-metrics column."""
    rows = drift.filter((pl.col("drift_type") == drift_type)
                        & (pl.col("column_name") != TABLE_LEVEL))
    by_threshold: dict[DriftThreshold, list[str]] = {}
    for column in rows["column_name"].unique():
        by_threshold.setdefault(monitor.threshold(column), []).append(column)
    flagged = [_flag(rows.filter(pl.col("column_name").is_in(columns)), threshold)
               for threshold, columns in by_threshold.items()]
    return pl.concat([LEVELS.to_frame(), *flagged], how="vertical_relaxed").sort(
        pl.col("window").struct.field("start"), "slice_key", "slice_value", "column_name")


@dataclass(frozen=True)
class WindowDrift:
    """The drift of a monitor's latest window, as its checks and report see it."""

    drift_type: str
    """BASELINE when the monitor declares a baseline, else CONSECUTIVE."""
    window: tuple[datetime, datetime] | None
    drift: pl.DataFrame
    """That window's rows of `drift_type` (DRIFT_METRICS), `:table` included."""
    levels: pl.DataFrame
    """`drift_levels` of them."""
    nothing_to_compare: str | None
    """Why no column could be compared (no drift table, no row of `drift_type`, only
    `:table` rows), else None."""


def _no_window(drift_type: str, why: str) -> WindowDrift:
    return WindowDrift(drift_type, None, DRIFT_METRICS.to_frame(), LEVELS.to_frame(), why)


def latest_drift(catalog: Catalog, monitor: Monitor) -> WindowDrift:
    """The latest window (by start) of the monitor's drift-metrics table that has rows of its
    drift type, with their levels; `nothing_to_compare` says why when there is none."""
    drift_type = BASELINE if monitor.baseline is not None else CONSECUTIVE
    table = monitor.drift_metrics_table
    if not catalog.exists(table):
        return _no_window(drift_type, f"{table} does not exist yet: the monitor of "
                                      f"{monitor.table} has not been refreshed")
    rows = catalog.scan(table).filter(pl.col("drift_type") == drift_type)
    start = rows.select(pl.col("window").struct.field("start").max()).collect().item()
    if start is None:
        why = ("the baseline could not be read or no window was compared with it"
               if drift_type == BASELINE else "no window has a previous window to compare")
        return _no_window(drift_type, f"{table} has no {drift_type} drift rows: {why}")
    drift = rows.filter(pl.col("window").struct.field("start") == start).collect()
    window = (start, drift["window"].struct.field("end").max())
    compared = drift.filter(pl.col("column_name") != TABLE_LEVEL).height
    problem = None if compared else (
        f"{table}: the window starting {start.isoformat()} has no column's {drift_type} "
        "drift (only its table-level row)")
    return WindowDrift(drift_type, window, drift, drift_levels(drift, monitor,
                                                               drift_type=drift_type), problem)
