"""Columns of the metric tables, after Databricks Lakehouse Monitoring's
`<table>_profile_metrics` and `<table>_drift_metrics`, so users' queries carry over.

One row per (window, granularity, model_id, slice_key, slice_value, column_name): the whole
table's row has `slice_key` and `slice_value` NULL; `column_name` is `:table` for table-level
rows (counts, and for inference logs the model-quality and fairness columns)."""

from __future__ import annotations

import polars as pl

TABLE_LEVEL = ":table"
UTC_TIME = pl.Datetime("us", "UTC")
WINDOW = pl.Struct({"start": UTC_TIME, "end": UTC_TIME})
"""A half-open interval [start, end) of the monitored table's timestamp column."""
TEST = pl.Struct({"statistic": pl.Float64, "pvalue": pl.Float64})
QUANTILES = tuple(q / 20 for q in range(21))
"""The probabilities of the `quantiles` array: 0, 0.05, ..., 1."""

KEY = {
    "window": WINDOW, "granularity": pl.String, "model_id": pl.String,
    "slice_key": pl.String, "slice_value": pl.String, "column_name": pl.String,
}
"""Identifies a row; a refresh replaces whole windows."""

QUALITY = {
    "roc_auc": pl.Float64, "pr_auc": pl.Float64, "log_loss": pl.Float64,
    "precision": pl.Float64, "recall": pl.Float64, "f1_score": pl.Float64,
    "calibration_error": pl.Float64, "label_count": pl.Int64,
    "estimated_roc_auc": pl.Float64,
    "predictive_parity": pl.Float64, "predictive_equality": pl.Float64,
    "equal_opportunity": pl.Float64, "statistical_parity": pl.Float64,
}
"""Model quality on `:table` rows of inference-log monitors (NULL elsewhere and while no label
has arrived); `estimated_roc_auc` is the label-free estimate; the fairness columns are set on
rows of boolean slices only."""

PROFILE_METRICS = pl.Schema({
    **KEY,
    "count": pl.Int64, "data_type": pl.String,
    "num_nulls": pl.Int64, "percent_null": pl.Float64,
    "num_nan": pl.Int64, "percent_nan": pl.Float64,
    "num_zeros": pl.Int64, "percent_zeros": pl.Float64,
    "avg": pl.Float64, "stddev": pl.Float64, "min": pl.Float64, "max": pl.Float64,
    "median": pl.Float64, "quantiles": pl.List(pl.Float64),
    "distinct_count": pl.Int64, "percent_distinct": pl.Float64,
    "frequent_items": pl.List(pl.Struct({"item": pl.String, "count": pl.Int64})),
    "avg_length": pl.Float64, "min_length": pl.Int64, "max_length": pl.Int64,
    **QUALITY,
    "logging_table_commit_version": pl.Int64,
})

DRIFT_METRICS = pl.Schema({
    **KEY,
    "window_cmp": WINDOW,
    "drift_type": pl.String,
    "data_type": pl.String,
    "count_delta": pl.Float64, "avg_delta": pl.Float64, "percent_null_delta": pl.Float64,
    "js_distance": pl.Float64, "ks_test": TEST, "wasserstein_distance": pl.Float64,
    "population_stability_index": pl.Float64, "chi_squared_test": TEST,
    "tv_distance": pl.Float64, "l_infinity_distance": pl.Float64,
})
"""`drift_type` is `CONSECUTIVE` (window_cmp: the previous window) or `BASELINE` (window_cmp:
the baseline's time span, or NULL for a snapshot baseline)."""
CONSECUTIVE = "CONSECUTIVE"
BASELINE = "BASELINE"
