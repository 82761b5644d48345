"""Each profile metric against an independent computation (numpy, statistics, plain Python)
on the same rows, per window and slice."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from lakehouse_ml.monitoring.profile import profile, profiled_columns
from lakehouse_ml.monitoring.schema import QUANTILES, TABLE_LEVEL
from lakehouse_ml.monitoring.spec import InferenceLog, Monitor
from lakehouse_ml.monitoring.windows import SLICE_KEY, SLICE_VALUE, START, assign_windows, sliced

T0 = datetime(2026, 2, 1, tzinfo=UTC)
MONITOR = Monitor("gold.t", "time_series", timestamp_col="ts", slicing_exprs=("tier",),
                  categorical=("code",))


@pytest.fixture(scope="module")
def data() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    n = 400
    x = rng.normal(3, 2, n).round(1)
    x[rng.random(n) < 0.1] = np.nan
    x[rng.random(n) < 0.1] = 0.0
    words = np.array(["a", "bb", "ccc", "é", "dd"])
    return pl.DataFrame({
        "ts": [T0 + timedelta(hours=int(h)) for h in rng.integers(0, 72, n)],
        "x": pl.Series(x).set(pl.Series(rng.random(n) < 0.1), None),
        "n": pl.Series(rng.integers(-3, 4, n)).set(pl.Series(rng.random(n) < 0.05), None),
        "code": rng.integers(0, 12, n),
        "word": pl.Series(words[rng.integers(0, 5, n)]).set(pl.Series(rng.random(n) < 0.1),
                                                            None),
        "flag": rng.random(n) < 0.3,
        "tier": np.array(["basic", "pro"])[rng.integers(0, 2, n)],
        "when": [T0 + timedelta(days=int(d)) for d in rng.integers(0, 3, n)],
        "blob": [[1, 2]] * n,
    })


@pytest.fixture(scope="module")
def profiled(data: pl.DataFrame) -> pl.DataFrame:
    kinds, categorical, _ = profiled_columns(data.schema, MONITOR)
    rows = assign_windows(data.lazy(), MONITOR, data.schema)
    return pl.concat([profile(part, kinds, categorical) for _, part in sliced(rows, MONITOR)])


def groups(data: pl.DataFrame):
    """(window start, slice key, slice value, rows) of every group, computed without polars'
    group_by: by hand from the timestamps."""
    for start in (T0, T0 + timedelta(days=1), T0 + timedelta(days=2)):
        in_window = data.filter((pl.col("ts") >= start)
                                & (pl.col("ts") < start + timedelta(days=1)))
        yield start, None, None, in_window
        for tier in ("basic", "pro"):
            yield start, "tier", tier, in_window.filter(pl.col("tier") == tier)


def row(profiled: pl.DataFrame, start: datetime, key: str | None, value: str | None,
        column: str) -> dict:
    found = profiled.filter(pl.col(START) == start, pl.col("column_name") == column,
                            pl.col(SLICE_KEY).eq_missing(key),
                            pl.col(SLICE_VALUE).eq_missing(value))
    assert found.height == 1, (start, key, value, column)
    return found.row(0, named=True)


def close(a: float | None, b: float | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None
                                         and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9))


def test_columns_profiled_and_skipped(data: pl.DataFrame) -> None:
    kinds, categorical, skipped = profiled_columns(data.schema, MONITOR)
    assert kinds == {"x": "numeric", "n": "numeric", "code": "numeric", "word": "string",
                     "flag": "categorical", "tier": "string", "when": "temporal"}
    assert categorical == {"x": False, "n": False, "code": True, "word": True, "flag": True,
                           "tier": True, "when": False}
    assert skipped == {"blob": "type List(Int64) cannot be profiled"}
    log = Monitor("churn.predictions", "inference_log", timestamp_col="ts",
                  inference_log=InferenceLog("model_version", "prediction"),
                  columns=("x", "missing", "model_version"), exclude=("n",))
    assert profiled_columns(data.schema, log)[2] == {
        "missing": "declared by the monitor but not in the table",
        "model_version": "declared by the monitor but not in the table"}
    defaults = Monitor("churn.predictions", "inference_log", timestamp_col="ts",
                       inference_log=InferenceLog("tier", "prediction"), exclude=("n",))
    assert set(profiled_columns(data.schema, defaults)[0]) == {"x", "code", "word", "flag",
                                                               "when"}


def test_table_rows_count_rows(data: pl.DataFrame, profiled: pl.DataFrame) -> None:
    for start, key, value, rows in groups(data):
        table = row(profiled, start, key, value, TABLE_LEVEL)
        assert table["count"] == rows.height
        assert table["avg"] is None and table["data_type"] is None


@pytest.mark.parametrize("column", ["x", "n", "code"])
def test_numeric_metrics(data: pl.DataFrame, profiled: pl.DataFrame, column: str) -> None:
    for start, key, value, rows in groups(data):
        got = row(profiled, start, key, value, column)
        raw = [v for v in rows[column].to_list()]
        present = [v for v in raw if v is not None]
        numbers = [float(v) for v in present if not math.isnan(v)]
        nans = len(present) - len(numbers)
        assert got["data_type"] == str(data.schema[column])
        assert got["count"] == len(present)
        assert got["num_nulls"] == len(raw) - len(present)
        assert close(got["percent_null"], 100 * (len(raw) - len(present)) / len(raw))
        assert got["num_nan"] == nans
        assert close(got["percent_nan"], 100 * nans / len(raw))
        zeros = sum(1 for v in numbers if v == 0)
        assert got["num_zeros"] == zeros
        assert close(got["percent_zeros"], 100 * zeros / len(raw))
        assert close(got["avg"], statistics.fmean(numbers))
        assert close(got["stddev"], statistics.stdev(numbers))
        assert got["min"] == min(numbers) and got["max"] == max(numbers)
        expected = np.quantile(np.array(numbers), QUANTILES)  # numpy's default: linear
        assert np.allclose(got["quantiles"], expected, rtol=1e-12, atol=1e-12)
        assert close(got["median"], statistics.median(numbers))
        distinct = len(set(numbers)) + (1 if nans else 0)
        assert got["distinct_count"] == distinct
        assert close(got["percent_distinct"], 100 * distinct / len(present))
        assert got["avg_length"] is None
        if column == "code":
            counts = Counter(str(v) for v in present)
            top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
            assert got["frequent_items"] == [{"item": i, "count": c} for i, c in top]
        else:
            assert got["frequent_items"] is None


@pytest.mark.parametrize("column", ["word", "flag", "tier"])
def test_categorical_metrics(data: pl.DataFrame, profiled: pl.DataFrame, column: str) -> None:
    for start, key, value, rows in groups(data):
        got = row(profiled, start, key, value, column)
        raw = rows[column].to_list()
        present = [v for v in raw if v is not None]
        text = [str(v).lower() if isinstance(v, bool) else v for v in present]
        counts = Counter(text)
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        assert got["frequent_items"] == [{"item": i, "count": c} for i, c in top]
        assert got["count"] == len(present)
        assert got["num_nulls"] == len(raw) - len(present)
        assert got["distinct_count"] == len(counts)
        assert close(got["percent_distinct"], 100 * len(counts) / len(present))
        assert got["avg"] is None and got["quantiles"] is None and got["num_nan"] is None
        if column == "flag":
            assert got["avg_length"] is None
        else:
            lengths = [len(v) for v in present]
            assert close(got["avg_length"], statistics.fmean(lengths))
            assert (got["min_length"], got["max_length"]) == (min(lengths), max(lengths))


def test_temporal_columns_get_counts(data: pl.DataFrame, profiled: pl.DataFrame) -> None:
    for start, key, value, rows in groups(data):
        got = row(profiled, start, key, value, "when")
        assert got["count"] == rows.height
        assert got["distinct_count"] == len(set(rows["when"].to_list()))
        assert got["min"] is None and got["frequent_items"] is None


def test_frequent_items_keep_ten_by_count_then_value() -> None:
    values = ["k"] * 3 + ["b"] * 2 + ["a"] * 2 + list("cdefghij") + ["é"]
    frame = pl.DataFrame({"v": values, "ts": [T0] * len(values)})
    monitor = Monitor("gold.t", "time_series", timestamp_col="ts")
    kinds, categorical, _ = profiled_columns(frame.schema, monitor)
    out = profile(next(sliced(assign_windows(frame.lazy(), monitor, frame.schema),
                              monitor))[1], kinds, categorical)
    items = out.filter(pl.col("column_name") == "v")["frequent_items"].to_list()[0]
    assert items == [{"item": "k", "count": 3}, {"item": "a", "count": 2},
                     {"item": "b", "count": 2}] + [{"item": c, "count": 1}
                                                   for c in "cdefghi"]


def test_a_column_without_values_has_null_statistics() -> None:
    frame = pl.DataFrame({"x": [None, float("nan")], "ts": [T0, T0]})
    monitor = Monitor("gold.t", "time_series", timestamp_col="ts")
    kinds, categorical, _ = profiled_columns(frame.schema, monitor)
    out = profile(next(sliced(assign_windows(frame.lazy(), monitor, frame.schema),
                              monitor))[1], kinds, categorical)
    got = out.filter(pl.col("column_name") == "x").row(0, named=True)
    assert (got["count"], got["num_nulls"], got["num_nan"], got["distinct_count"]) == (1, 1, 1,
                                                                                      1)
    assert got["avg"] is None and got["quantiles"] is None and got["median"] is None
    assert got["percent_null"] == 50.0
