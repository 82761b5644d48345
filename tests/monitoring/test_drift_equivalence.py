"""drift_rows' optimized path (one sort per side, a block-by-block merge, columns on threads)
against a straightforward computation of every metric, by the module docstring's definitions,
on random data with ties, NULLs, NaN, +-inf, constant and single-category columns, and an
empty current window."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon

from lakehouse_ml.monitoring import drift
from lakehouse_ml.monitoring.drift import BINS, PSI_EPSILON, drift_rows
from lakehouse_ml.monitoring.schema import TABLE_LEVEL

pytestmark = pytest.mark.filterwarnings("error")
COLUMNS = {"ties": False, "holes": False, "counts": False, "constant": False, "word": True,
           "one": True, "code": True}
"""Column -> categorical, as drift_rows takes them."""
METRICS = ("count_delta", "avg_delta", "percent_null_delta", "js_distance",
           "wasserstein_distance", "population_stability_index", "tv_distance",
           "l_infinity_distance")


def frame(rng: np.random.Generator, rows: int, shift: float) -> pl.DataFrame:
    """Random columns of every awkward kind: many ties, NULL/NaN/+-inf, integers with NULLs,
    a constant, strings with NULLs, a single category, integers declared categorical."""
    holes = rng.normal(shift, 2, rows)
    holes[rng.random(rows) < 0.1] = np.nan
    holes[rng.random(rows) < 0.05] = np.inf
    holes[rng.random(rows) < 0.05] = -np.inf
    counts = rng.poisson(3 + shift, rows).astype(float)
    counts[rng.random(rows) < 0.1] = np.nan
    words = rng.choice(["a", "b", "c", "d", "é"], rows, p=[0.4, 0.3, 0.2, 0.05, 0.05])
    return pl.DataFrame({
        "ties": rng.normal(shift, 1, rows).round(1),
        "holes": pl.Series(holes).fill_nan(None).to_list() if rows % 2 else holes,
        "counts": pl.Series(counts, nan_to_null=True).cast(pl.Int64),
        "constant": np.full(rows, 2.5),
        "word": pl.Series(words).scatter(np.flatnonzero(rng.random(rows) < 0.1), None),
        "one": ["only"] * rows,
        "code": rng.integers(0, 4 if shift else 3, rows),
    }, schema_overrides={"holes": pl.Float64, "word": pl.String, "one": pl.String})


def numbers(series: pl.Series) -> np.ndarray:
    values = np.array([v for v in series.to_list() if v is not None], dtype=float)
    return values[np.isfinite(values)]


def missing_percent(series: pl.Series) -> float | None:
    if series.len() == 0:
        return None
    values = series.to_list()
    gone = sum(v is None or (isinstance(v, float) and math.isnan(v)) for v in values)
    return 100 * gone / len(values)


def frequencies(p_counts: list[int], q_counts: list[int]) -> dict:
    p = np.array(p_counts, float) / sum(p_counts)
    q = np.array(q_counts, float) / sum(q_counts)
    fp, fq = np.maximum(p, PSI_EPSILON), np.maximum(q, PSI_EPSILON)
    return {"js_distance": float(jensenshannon(p, q, base=2)),
            "population_stability_index": float(np.sum((fp - fq) * np.log(fp / fq)))}


def expected_numeric(cur: pl.Series, ref: pl.Series) -> dict:
    a, b = numbers(cur), numbers(ref)
    out = {"count_delta": float(cur.count() - ref.count())}
    pct = (missing_percent(cur), missing_percent(ref))
    out["percent_null_delta"] = None if None in pct else pct[0] - pct[1]
    if not (a.size and b.size):
        return out
    union = np.unique(np.concatenate([a, b]))
    if union.size <= BINS:
        bins = [(a == v, b == v) for v in union]
    else:
        edges = np.unique(np.quantile(b, np.arange(1, BINS) / BINS))
        bounds = [-np.inf, *edges, np.inf]
        bins = [((a > lo) & (a <= hi), (b > lo) & (b <= hi))
                for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    ks = stats.ks_2samp(a, b, method="auto")
    return out | {"avg_delta": float(a.mean() - b.mean()),
                  "ks_test": {"statistic": float(ks.statistic), "pvalue": float(ks.pvalue)},
                  "wasserstein_distance": float(stats.wasserstein_distance(a, b))} | frequencies(
        [int(x.sum()) for x, _ in bins], [int(y.sum()) for _, y in bins])


def expected_categorical(cur: pl.Series, ref: pl.Series) -> dict:
    out = {"count_delta": float(cur.count() - ref.count())}
    pct = (missing_percent(cur), missing_percent(ref))
    out["percent_null_delta"] = None if None in pct else pct[0] - pct[1]
    p_counts = Counter(str(v) for v in cur.to_list() if v is not None)
    q_counts = Counter(str(v) for v in ref.to_list() if v is not None)
    if not (p_counts and q_counts):
        return out
    categories = sorted(p_counts.keys() | q_counts.keys())
    table = np.array([[p_counts[c] for c in categories], [q_counts[c] for c in categories]])
    if len(categories) == 1:
        chi2 = {"statistic": 0.0, "pvalue": 1.0}
    else:
        found = stats.chi2_contingency(table, correction=False)
        chi2 = {"statistic": float(found.statistic), "pvalue": float(found.pvalue)}
    p, q = table[0] / table[0].sum(), table[1] / table[1].sum()
    return out | {"chi_squared_test": chi2, "tv_distance": float(0.5 * np.abs(p - q).sum()),
                  "l_infinity_distance": float(np.abs(p - q).max())} | frequencies(
        list(table[0]), list(table[1]))


def assert_same(found: dict, expected: dict, column: str) -> None:
    for metric in (*METRICS, "ks_test", "chi_squared_test"):
        want, got = expected.get(metric), found[metric]
        if isinstance(want, dict):
            assert got is not None, (column, metric)
            for part in ("statistic", "pvalue"):
                assert got[part] == pytest.approx(want[part], rel=1e-9, abs=1e-12), (
                    column, metric, part)
        elif want is None:
            assert got is None, (column, metric, got)
        else:
            assert got == pytest.approx(want, rel=1e-9, abs=1e-12), (column, metric)


def check(current: pl.DataFrame, reference: pl.DataFrame) -> None:
    out = drift_rows(current, reference, COLUMNS)
    rows = {r["column_name"]: r for r in out.iter_rows(named=True)}
    assert rows[TABLE_LEVEL]["count_delta"] == current.height - reference.height
    for column, is_categorical in COLUMNS.items():
        compute = expected_categorical if is_categorical else expected_numeric
        assert_same(rows[column], compute(current[column], reference[column]), column)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_cur=st.integers(0, 3_000),
       n_ref=st.integers(1, 3_000), block=st.sampled_from([1, 2, 7, 64, 1 << 15]),
       shift=st.sampled_from([0.0, 0.3]))
def test_optimized_path_gives_the_straightforward_values(seed, n_cur, n_ref, block, shift):
    rng = np.random.default_rng(seed)
    current, reference = frame(rng, n_cur, shift), frame(rng, n_ref, 0.0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(drift, "BLOCK", block)  # blocks of a few values: cuts between ties
        patch.setattr(drift, "PARALLEL_MIN_VALUES", 0)  # columns on threads
        patch.setattr(drift.os, "cpu_count", lambda: 2)
        check(current, reference)


def test_empty_current_window_and_large_sides():
    rng = np.random.default_rng(5)
    reference = frame(rng, 40_000, 0.0)
    check(frame(rng, 0, 0.2), reference)  # empty window: counts and NULLs only
    check(frame(rng, 30_000, 0.2), reference)  # several blocks, asymptotic KS p-value


def test_a_value_on_a_decile_edge_falls_in_the_bin_numpys_quantile_gives():
    # numpy's median of these is -8.3e-17, not 0.0: 0.0 belongs to the bin above it
    reference = pl.DataFrame({"x": [-1.4, -0.4, 0.1, 1.2]})
    current = pl.DataFrame({"x": [0.0] * 6 + [-1.1, -0.8, 0.3, 0.5, 0.7, 0.9, 1.0]})
    found = drift_rows(current, reference, {"x": False}).row(1, named=True)
    assert_same(found, expected_numeric(current["x"], reference["x"]), "x")


def test_inputs_are_left_as_they_were():
    # sides are sorted in place only when polars handed out a copy (chunks, NULLs, casts)
    rng = np.random.default_rng(9)
    current = pl.concat([frame(rng, 500, 0.3), frame(rng, 400, 0.3)], rechunk=False)
    reference = frame(rng, 700, 0.0).with_columns(plain=pl.Series(rng.normal(0, 1, 700)))
    current = current.with_columns(plain=pl.Series(rng.normal(0, 1, 900)))
    before = (current.clone(), reference.clone())
    drift_rows(current, reference, COLUMNS | {"plain": False})
    assert current.equals(before[0], null_equal=True)
    assert reference.equals(before[1], null_equal=True)
