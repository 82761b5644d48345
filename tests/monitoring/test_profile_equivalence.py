"""profile's numeric statistics (numpy on each group's rows, read from the columns without
copying them into lists) against a straightforward computation per group, on random data with
ties, NULLs, NaN, repeated +-inf, zeros of both signs, constant columns and a frame in several
chunks, with one group and with many."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehouse_ml.monitoring.profile import profile, profiled_columns
from lakehouse_ml.monitoring.schema import QUANTILES
from lakehouse_ml.monitoring.spec import Monitor
from lakehouse_ml.monitoring.windows import SLICE_KEY, SLICE_VALUE, START, assign_windows, sliced

T0 = datetime(2026, 2, 1, tzinfo=UTC)
SLICED = Monitor("gold.t", "time_series", timestamp_col="ts", slicing_exprs=("tier",))
SNAPSHOT = Monitor("gold.t", "snapshot")


def frame(rng: np.random.Generator, rows: int) -> pl.DataFrame:
    x = rng.normal(0, 2, rows).round(1)  # ties, and zeros
    for value, share in ((np.nan, 0.1), (np.inf, 0.05), (-np.inf, 0.05), (-0.0, 0.05)):
        x[rng.random(rows) < share] = value
    return pl.DataFrame({
        "ts": [T0 + timedelta(hours=int(h)) for h in rng.integers(0, 72, rows)],
        "x": pl.Series(x).scatter(np.flatnonzero(rng.random(rows) < 0.1), None),
        "n": pl.Series(rng.integers(-2, 3, rows)).scatter(
            np.flatnonzero(rng.random(rows) < 0.1), None),
        "f": pl.Series(rng.normal(1, 1, rows), dtype=pl.Float32),
        "constant": np.full(rows, 4.0),
        "tier": np.array(["basic", "pro"])[rng.integers(0, 2, rows)],
    })


def quantile(numbers: list[float], p: float) -> float:
    """The p-quantile of the sorted `numbers` by the module's definition, one at a time:
    linear between the order statistics around p·(n − 1), an infinite one winning (the nearer
    of −inf and +inf)."""
    position = p * (len(numbers) - 1)
    low, high = math.floor(position), math.ceil(position)
    weight = position - low
    below, above = numbers[low], numbers[high]
    if math.isinf(below) and math.isinf(above):
        return below if weight < 0.5 else above
    if math.isinf(below) or math.isinf(above):
        return below if math.isinf(below) else above
    return below + (above - below) * weight


def straightforward(values: list[float | None]) -> dict:
    """The numeric profile metrics of one group's values, by their definitions."""
    present = [v for v in values if v is not None]
    numbers = np.array([v for v in present if not math.isnan(v)], dtype=float)
    nans = len(present) - numbers.size
    out = {"count": len(present), "num_nulls": len(values) - len(present), "num_nan": nans,
           "num_zeros": int(np.count_nonzero(numbers == 0)),
           "distinct_count": len(set(numbers.tolist())) + (1 if nans else 0)}
    if numbers.size:
        with np.errstate(invalid="ignore"):  # inf - inf in the mean's and std's sums
            out |= {"avg": float(np.mean(numbers)), "min": float(numbers.min()),
                    "max": float(numbers.max()),
                    "stddev": float(np.std(numbers, ddof=1)) if numbers.size > 1 else None,
                    "quantiles": [quantile(sorted(numbers.tolist()), p) for p in QUANTILES]}
    return out


def same(got: float | None, want: float | None) -> bool:
    if got is None or want is None:
        return got is None and want is None
    if math.isnan(want) or math.isinf(want):
        return math.isnan(got) if math.isnan(want) else got == want
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)


def check(data: pl.DataFrame, monitor: Monitor) -> None:
    kinds, categorical, _ = profiled_columns(data.schema, monitor)
    rows = assign_windows(data.lazy(), monitor, data.schema, T0)
    for _, part in sliced(rows, monitor):
        profiled = profile(part, kinds, categorical)
        groups = part.collect().partition_by(START, SLICE_KEY, SLICE_VALUE, as_dict=True)
        assert profiled.filter(pl.col("column_name") == "x").height == len(groups)
        for (start, key, value), group in groups.items():
            for column in ("x", "n", "f", "constant"):
                (got,) = profiled.filter(
                    pl.col(START) == start, pl.col(SLICE_KEY).eq_missing(key),
                    pl.col(SLICE_VALUE).eq_missing(value),
                    pl.col("column_name") == column).to_dicts()
                want = straightforward(group[column].cast(pl.Float64).to_list())
                for metric, expected in want.items():
                    if metric == "quantiles":
                        assert all(same(g, w) for g, w in zip(got[metric], expected,
                                                              strict=True)), column
                    else:
                        assert same(got[metric], expected), (column, metric, got[metric],
                                                             expected)
                if "avg" not in want:
                    assert got["avg"] is None and got["quantiles"] is None


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 600))
def test_numeric_statistics_equal_the_straightforward_ones(seed, rows):
    data = frame(np.random.default_rng(seed), rows)
    check(data, SLICED)  # many groups: windows and slices
    check(data, SNAPSHOT)  # one group: every row


def test_a_frame_in_chunks_gives_the_values_of_one_chunk():
    rng = np.random.default_rng(3)
    parts = [frame(rng, 300), frame(rng, 200)]
    chunked = pl.concat(parts, rechunk=False)
    assert chunked.n_chunks() == 2
    check(chunked, SNAPSHOT)
    check(chunked, SLICED)


def test_repeated_infinities_count_as_one_distinct_value():
    data = pl.DataFrame({"x": [np.inf, np.inf, -np.inf, -np.inf, 1.0, 1.0, np.nan, None]})
    kinds, categorical, _ = profiled_columns(data.schema, SNAPSHOT)
    rows = next(sliced(assign_windows(data.lazy(), SNAPSHOT, data.schema, T0), SNAPSHOT))[1]
    got = profile(rows, kinds, categorical).filter(pl.col("column_name") == "x").row(
        0, named=True)
    assert (got["distinct_count"], got["num_nan"], got["num_nulls"]) == (4, 1, 1)
    assert got["percent_distinct"] == pytest.approx(100 * 4 / 7)


def test_the_profiled_frame_is_left_as_it_was():
    rng = np.random.default_rng(4)
    data = pl.concat([frame(rng, 300), frame(rng, 200)], rechunk=False)
    before = data.clone()
    check(data, SNAPSHOT)
    assert data.equals(before, null_equal=True)


def test_quantiles_of_infinite_values_are_infinite_never_nan():
    """As Databricks (Spark's percentile_approx): ±inf at the tails, the finite values
    interpolated between them (numpy.quantile gives NaN for inf − inf)."""
    data = pl.DataFrame({"x": [3.0, np.inf, 1.0, -np.inf, 2.0, None]})
    kinds, categorical, _ = profiled_columns(data.schema, SNAPSHOT)
    rows = next(sliced(assign_windows(data.lazy(), SNAPSHOT, data.schema, T0), SNAPSHOT))[1]
    got = profile(rows, kinds, categorical).filter(pl.col("column_name") == "x").row(
        0, named=True)
    # positions 4p over -inf, 1, 2, 3, inf: below 1 -> -inf, above 3 -> inf, else 4p
    assert got["quantiles"] == [-math.inf if 4 * p < 1 else math.inf if 4 * p > 3
                                else pytest.approx(4 * p) for p in QUANTILES]
    assert (got["min"], got["median"], got["max"]) == (-math.inf, 2.0, math.inf)
