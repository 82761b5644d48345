"""Drift metrics of one window against its comparison data (the previous window or the
baseline): the DRIFT_METRICS columns from `column_name` on, one row per column.

Definitions (`cur` is the window, `ref` the comparison data; a metric is NULL when it does not
apply to the column's kind or when either side has no value to compare):

- `count_delta`: count(cur) - count(ref), the numbers of non-NULL values (SQL `count(col)`);
  on the `:table` row the numbers of rows.
- `avg_delta`: mean(cur) - mean(ref) of the finite values, in the column's units (numeric
  columns only).
- `percent_null_delta`: percentage points, 100 * missing(cur) / rows(cur) - the same of ref,
  where a value is missing when it is NULL or NaN (the profile's percent_null + percent_nan).

The distribution metrics below ignore NULL and NaN (they show in `percent_null_delta`) and,
for numeric columns, also +-inf.

Numeric columns (any numeric dtype the caller does not declare categorical):
- `ks_test`: two-sample Kolmogorov-Smirnov, two-sided: `statistic` = max |F_cur - F_ref| of
  the empirical CDFs (right-continuous, evaluated at every observed value). `pvalue`: while
  both sides have at most 10,000 values, `scipy.stats.ks_2samp(method="auto")`, i.e. the
  exact distribution (a few milliseconds there). Beyond, the exact one costs O(n*m) and the
  asymptotic one is accurate: with en = n*m/(n+m), Smirnov's finite-n distribution
  `scipy.stats.kstwo.sf(D, round(en))` (scipy's `asymp`) while en <= 10,000, and Kolmogorov's
  limit `scipy.stats.kstwobign.sf(sqrt(en) * D)` above (kstwo takes up to a second per call
  there in the tails; the two differ by O(1/sqrt(en)), under 1e-3). For large sides the
  statistic is computed here from the two sorted samples merged block by block (integer CDF
  counts, equal to scipy's up to rounding), since `ks_2samp` sorts again and binary-searches
  every point: about 5x the time at a million rows.
- `wasserstein_distance`: first Wasserstein (earth mover's) distance, integral of
  |F_cur - F_ref| dx, in the column's units, as `scipy.stats.wasserstein_distance` (computed
  from the same merge: the sum over consecutive distinct values of the CDF gap times their
  distance, as scipy sums it, up to rounding).
- Bins for `js_distance` and `population_stability_index`: when the two sides together hold
  at most `BINS` (10) distinct values, one bin per distinct value; otherwise the deciles of
  ref (`numpy.quantile`, its default linear method, at 0.1 ... 0.9, repeated edges merged)
  cut the line into at most 10 right-closed bins (-inf, e1], (e1, e2], ..., (e9, +inf).
  Reference deciles give every bin a tenth of ref, so one outlier cannot squeeze the data
  into one bin, and values of cur beyond ref's range land in the end bins.
- `tv_distance`, `l_infinity_distance`, `chi_squared_test`: NULL (Databricks computes them for
  categorical columns only).

Categorical columns (strings, booleans, categoricals, and numeric columns declared so): the
frequencies of each value (as text) over the union of both sides' values; NULL is not a
category (it shows in `percent_null_delta`), a value present on one side only has frequency 0
on the other.
- `chi_squared_test`: Pearson's test of homogeneity on the 2 x k table of counts
  (`scipy.stats.chi2_contingency(correction=False)`: sum (O - E)^2 / E with E from the table's
  margins, k - 1 degrees of freedom; statistic 0 and p-value 1 when k = 1). Unlike a
  goodness-of-fit test against ref's frequencies, it treats both sides as samples and stays
  finite for a value ref never had.
- `tv_distance`: 1/2 sum |p_cur - p_ref|; `l_infinity_distance`: max |p_cur - p_ref|.
- `ks_test`, `wasserstein_distance`: NULL.

Temporal, nested and binary columns: `count_delta` and `percent_null_delta` only (a date
moves every window: its categories would always drift).

Numeric and categorical columns, over the bins or categories with frequencies p_cur, p_ref:
- `js_distance`: Jensen-Shannon distance, base 2 (in [0, 1]), of the unsmoothed frequencies
  (`scipy.spatial.distance.jensenshannon`; an empty bin needs no smoothing since the mixture
  is positive wherever either side is).
- `population_stability_index`: sum (p_cur - p_ref) * ln(p_cur / p_ref), natural log, each
  frequency floored at `PSI_EPSILON` (1e-4) so an empty bin counts as 0.01 % (no
  renormalisation).

Noise floor: two samples of one distribution still differ. Over k bins or categories,
js_distance is about sqrt((k - 1) / (8 ln 2) * (1/n_cur + 1/n_ref)): against a large
reference, for 10 bins, 0.18 at 50 rows, 0.13 at 100, 0.09 at 200, 0.04 at 1,000 (measured
means; the 95th percentile is about 1.4x). A JS threshold of 0.1 therefore flags undrifted
numeric columns in windows of a few hundred rows or fewer.

Evidently's `DataDriftPreset` decisions (reference over 1,000 rows) from these rows:
- numeric column with more than 5 distinct values: normed Wasserstein =
  wasserstein_distance / max(std_ref, 0.001), drift when >= 0.1; std_ref is the reference's
  population standard deviation (ddof 0): from the profile's sample `stddev` (ddof 1) over n
  values, stddev * sqrt((n - 1) / n).
- categorical column, or numeric with at most 5 distinct values (one bin per value here):
  Evidently's Jensen-Shannon distance uses scipy's default base e, so
  js_e = js_distance * sqrt(ln 2); drift when js_e >= 0.1.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy.spatial.distance import jensenshannon
from scipy.special import chdtrc
from scipy.stats import ks_2samp, kstwo, kstwobign

from lakehouse_ml.monitoring.schema import DRIFT_METRICS, TABLE_LEVEL

BINS = 10
"""Number of numeric bins (reference deciles), and the most distinct values binned by value."""
BLOCK = 1 << 15
"""Values of each side per block of the numeric merge (`_cdf_gap`): its arrays fit a core's
cache."""
PSI_EPSILON = 1e-4
"""The floor of each bin's frequency in the population stability index."""
EXACT_KS_MAX_N = 10_000
"""Up to this many values on both sides the KS p-value is exact (scipy's `auto`)."""
COUNTER_MAX_ROWS = 10_000
"""Up to this many rows a categorical column's values are counted in Python (a polars
group-by costs more to set up than it saves there)."""
PARALLEL_MIN_VALUES = 1_000_000
"""From this many values (numeric columns x rows of both sides) columns are compared one per
core."""
_KS_2SAMP = getattr(ks_2samp, "__wrapped__", ks_2samp)
"""scipy's ks_2samp without its axis/NaN-policy wrapper (which costs 3x the test on a few
hundred values; the values passed are finite 1-D arrays, as the wrapper would leave them)."""
_KS_FALLBACK = r"ks_2samp: Exact calculation unsuccessful\. Switching to method=asymp"
"""The warning of `ks_2samp` when its exact p-value fails and it returns the asymptotic one."""
_METRICS = DRIFT_METRICS.names()[DRIFT_METRICS.names().index("data_type"):]
SCHEMA = pl.Schema({"column_name": pl.String, **{m: DRIFT_METRICS[m] for m in _METRICS}})
"""The columns of `drift_rows`' result."""


@dataclass(frozen=True)
class _Side:
    rows: int
    count: int
    missing: int
    values: Any  # finite float64 values (numeric) or a value -> count dict (categorical)
    ordered: np.ndarray | None = None
    """Numeric: every value sorted (±inf at the ends, NULL and NaN last); `values` is a view
    of it."""

    @property
    def percent_missing(self) -> float | None:
        return 100.0 * self.missing / self.rows if self.rows else None


@dataclass(frozen=True)
class Prepared:
    """One side of `drift_rows` computed once, to compare with many others (a baseline with
    every window, a window with the one before and the one after): per column its sorted
    values (numeric) or value counts (categorical). `frame` is the data itself (not copied);
    a column compared as another kind than prepared is read from it again."""

    frame: pl.DataFrame
    kinds: dict[str, str]
    sides: dict[str, _Side]

    def sorted_column(self, name: str) -> np.ndarray | None:
        """Every value of a numeric column sorted, NULL and NaN last (as `profile` sorts
        them), or None when the column was not prepared as numeric."""
        side = self.sides.get(name)
        return None if side is None else side.ordered


def prepare(frame: pl.DataFrame, columns: Mapping[str, bool]) -> Prepared:
    """`frame`'s sides of `columns` (name -> True when categorical, as `drift_rows` takes
    them), computed once (numeric columns one per core from PARALLEL_MIN_VALUES values)."""
    kinds = {name: _kind(name, flag, dict(frame.schema)) for name, flag in columns.items()}
    numeric = sum(kind == "numeric" for kind in kinds.values())
    sides = _map(lambda name: _SIDE[kinds[name]](frame, name), list(kinds),
                 numeric > 1 and numeric * frame.height >= PARALLEL_MIN_VALUES)
    return Prepared(frame, kinds, sides)


def _map(work: Any, names: list[str], parallel: bool) -> dict[str, Any]:
    """name -> work(name), one name per core when `parallel`."""
    workers = min(len(names), os.cpu_count() or 1)
    if parallel and workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return dict(zip(names, pool.map(work, names), strict=True))
    return {name: work(name) for name in names}


def drift_rows(current: pl.DataFrame | Prepared, reference: pl.DataFrame | Prepared,
               columns: Mapping[str, bool]) -> pl.DataFrame:
    """Drift of `current` against `reference`: a `:table` row (count_delta: the difference in
    rows; every other metric NULL) and one row per column of `columns` (name -> True when
    categorical), SCHEMA columns (`column_name`, `data_type`, `count_delta`, ...,
    `l_infinity_distance`), definitions in the module docstring. `data_type` is the polars
    dtype name (current's, else reference's). A string, boolean, categorical or enum column
    is categorical whatever `columns` says; temporal, nested and binary columns get
    `count_delta` and `percent_null_delta` only (as the profile gives them counts only); a
    column absent from one side has no value there (count 0, every other metric NULL,
    percent_null_delta too). Never raises for the data's content: empty, all-NULL, NaN or
    constant columns give NULL or zero metrics. Columns are compared one per core when the
    numeric ones hold at least PARALLEL_MIN_VALUES values together (the same values either
    way; below, threads cost more than they save); each worker reads its column in place and
    holds only that column's sorted values and a merge block. Either side may be `prepare`d
    (the same rows as from its frame): its columns are not sorted or counted again."""
    frames = tuple(side.frame if isinstance(side, Prepared) else side
                   for side in (current, reference))
    table = {"column_name": TABLE_LEVEL,
             "count_delta": float(frames[0].height - frames[1].height)}
    schemas = (dict(frames[0].schema), dict(frames[1].schema))
    kinds = {name: _kind(name, flag, *schemas) for name, flag in columns.items()}

    def side(of: pl.DataFrame | Prepared, name: str) -> _Side:
        kind = kinds[name]
        if isinstance(of, Prepared):
            if of.kinds.get(name) == kind:
                return of.sides[name]
            of = of.frame
        return _SIDE[kind](of, name)

    def compared(name: str) -> dict[str, Any]:
        return _COMPARE[kinds[name]](side(current, name), side(reference, name))

    numeric = sum(kind == "numeric" for kind in kinds.values())
    rows = _map(compared, list(kinds), numeric > 1 and numeric * (
        frames[0].height + frames[1].height) >= PARALLEL_MIN_VALUES)
    out = [table]
    for name in columns:
        dtype = schemas[0].get(name) or schemas[1].get(name)
        out.append({"column_name": name, "data_type": None if dtype is None else str(dtype),
                    **rows[name]})
    return pl.DataFrame(out, schema=SCHEMA, orient="row")


def _kind(name: str, flag: bool, *schemas: Mapping[str, pl.DataType]) -> str:
    """`categorical` when declared so or of a category dtype on either side (unless a side's
    dtype cannot be cast to text), `numeric` when numeric on every side that has it,
    else `counts` (temporal, nested, binary: counts and NULLs only). A side whose column is
    absent or of dtype Null (all NULL, untyped) has no say."""
    dtypes = [s[name] for s in schemas if name in s and s[name] != pl.Null]
    if any(d.is_nested() or d in (pl.Binary, pl.Object) for d in dtypes):
        return "counts"
    if flag or any(d in (pl.String, pl.Boolean) or isinstance(d, pl.Categorical | pl.Enum)
                   for d in dtypes):
        return "categorical"
    return "numeric" if all(d.is_numeric() for d in dtypes) else "counts"


def _counts_side(frame: pl.DataFrame, name: str) -> _Side:
    if name not in frame.columns:
        return _Side(0, 0, 0, None)
    nulls = frame.get_column(name).null_count()  # kept by polars: no pass
    return _Side(frame.height, frame.height - nulls, nulls, None)


def _numeric_side(frame: pl.DataFrame, name: str) -> _Side:
    """The column's finite values as sorted float64 (NULL and NaN missing, +-inf left out):
    one sort, NaN last and the infinities at the ends, so the finite values are a view."""
    if name not in frame.columns:
        return _Side(0, 0, 0, np.empty(0))
    series = frame.get_column(name)
    ordered = sorted_values(series.cast(pl.Float64).to_numpy())  # NULL -> NaN, sorted last
    values = ordered[np.searchsorted(ordered, -np.inf, side="right"):
                     np.searchsorted(ordered, np.inf, side="left")]
    present = int(np.searchsorted(ordered, np.nan, side="left"))  # neither NULL nor NaN
    return _Side(frame.height, frame.height - series.null_count(), frame.height - present,
                 values, ordered)


def sorted_values(values: np.ndarray) -> np.ndarray:
    """`values` sorted: in place when they are a copy already (polars hands out a writable
    array only when it had to copy: several chunks, NULLs, another dtype), else a sorted
    copy of polars' read-only view."""
    if values.flags.writeable:
        values.sort()
        return values
    return np.sort(values)


def _common(cur: _Side, ref: _Side) -> dict[str, Any]:
    pct_cur, pct_ref = cur.percent_missing, ref.percent_missing
    return {"count_delta": float(cur.count - ref.count),
            "percent_null_delta": None if pct_cur is None or pct_ref is None
            else pct_cur - pct_ref}


def _numeric_row(cur: _Side, ref: _Side) -> dict[str, Any]:
    row = _common(cur, ref)
    a, b = cur.values, ref.values  # sorted
    if not (a.size and b.size):
        return row
    n_a, n_b = a.size, b.size
    statistic, wasserstein, distinct = _cdf_gap(a, b)
    if distinct is not None:  # one bin per distinct value
        counts_a = np.diff(np.searchsorted(a, distinct, side="right"), prepend=0)
        counts_b = np.diff(np.searchsorted(b, distinct, side="right"), prepend=0)
    else:
        edges = _deciles(b)
        counts_a = np.diff(np.searchsorted(a, edges, side="right"), prepend=0, append=n_a)
        counts_b = np.diff(np.searchsorted(b, edges, side="right"), prepend=0, append=n_b)
    p, q = counts_a / n_a, counts_b / n_b
    return row | {
        "avg_delta": float(np.mean(a) - np.mean(b)), "ks_test": _ks_test(a, b, statistic),
        "wasserstein_distance": wasserstein,
        "js_distance": _js(p, q), "population_stability_index": _psi(p, q),
    }


def _cdf_gap(a: np.ndarray, b: np.ndarray) -> tuple[float, float, np.ndarray | None]:
    """(max |F_a - F_b|, integral of |F_a - F_b| dx, the distinct values of both when at most
    BINS, else None) of two sorted samples, merged block by block: each block holds the
    values up to a cut value (about BLOCK of each side, ties never split), so the merge's
    arrays stay in the CPU's cache. After the k-th merged value, n_a * n_b * (F_a - F_b) is
    the integer count_a * (n_a + n_b) - (k + 1) * n_a (exact in float64); it is a value of
    the CDFs' gap where the next merged value differs (the last of a run of ties), and the
    gap times the distance to the next value sums to the integral (0 within ties)."""
    n_a, n_b = a.size, b.size
    cuts = np.unique(np.concatenate([a[BLOCK - 1:-1:BLOCK], b[BLOCK - 1:-1:BLOCK]]))
    ends_a = np.append(np.searchsorted(a, cuts, side="right"), n_a)
    ends_b = np.append(np.searchsorted(b, cuts, side="right"), n_b)
    largest, integral, distinct, seen = 0.0, 0.0, [], 0
    start_a = start_b = 0
    for end_a, end_b in zip(ends_a.tolist(), ends_b.tolist(), strict=True):
        if end_a == start_a and end_b == start_b:
            continue
        both = np.concatenate([a[start_a:end_a], b[start_b:end_b]])
        order = np.argsort(both, kind="stable")  # merges the two sorted runs
        merged = both[order]
        gap = np.cumsum(order < end_a - start_a, dtype=np.float64)  # values of a so far
        gap *= n_a + n_b
        gap -= np.arange(start_b * n_a - start_a * n_b + n_a,
                         (start_b + merged.size) * n_a - start_a * n_b + 1, n_a, dtype=np.float64)
        np.abs(gap, out=gap)
        following = min(a[end_a] if end_a < n_a else np.inf, b[end_b] if end_b < n_b else np.inf)
        step = np.empty_like(merged)
        np.subtract(merged[1:], merged[:-1], out=step[:-1])
        step[-1] = following - merged[-1] if np.isfinite(following) else 0.0  # gap 0 after
        integral += float(np.sum(gap * step))
        runs = np.flatnonzero(step)  # the last of each distinct value (and of the block)
        values = gap if runs.size == merged.size else gap[runs]
        largest = max(largest, float(values.max()) if values.size else 0.0, float(gap[-1]))
        seen += runs.size + (step[-1] == 0)
        if seen <= BINS:
            distinct.append(merged[np.append(runs[runs < merged.size - 1], merged.size - 1)])
        start_a, start_b = end_a, end_b
    scale = n_a * n_b
    return (largest / scale, integral / scale,
            np.concatenate(distinct) if seen <= BINS else None)


def _ks_test(a: np.ndarray, b: np.ndarray, statistic: float) -> dict[str, float]:
    """KS statistic and p-value: scipy's `auto` (exact) when both sides are small, else
    asymptotic: Smirnov's finite-n distribution `kstwo` at en = n*m/(n+m) as scipy's `asymp`
    while en <= EXACT_KS_MAX_N, Kolmogorov's limit `kstwobign` of sqrt(en)*D beyond (kstwo
    takes up to a second there in the tails, and differs from the limit by O(1/sqrt(en)))."""
    if max(a.size, b.size) <= EXACT_KS_MAX_N:
        with warnings.catch_warnings():
            # the exact p-value can round just above 1 (e.g. 27 vs 27 values, D = 1/27):
            # scipy then returns its asymptotic one, which is the value wanted here
            warnings.filterwarnings("ignore", _KS_FALLBACK, RuntimeWarning)
            result = _KS_2SAMP(a, b, method="auto")
        return {"statistic": float(result.statistic), "pvalue": float(result.pvalue)}
    en = a.size * b.size / (a.size + b.size)
    pvalue = (kstwo.sf(statistic, np.round(en)) if en <= EXACT_KS_MAX_N
              else kstwobign.sf(math.sqrt(en) * statistic))
    return {"statistic": statistic, "pvalue": float(np.clip(pvalue, 0.0, 1.0))}


def _deciles(ordered: np.ndarray) -> np.ndarray:
    """The distinct deciles 0.1 ... 0.9 of sorted values as `numpy.quantile` computes them
    (default `linear` method), to the last bit, so a value equal to an edge falls in the bin
    the definition puts it in: at position h = (n - 1) * p between x[lo] and x[hi], numpy's
    interpolation x[lo] + (x[hi] - x[lo]) * g, or x[hi] - (x[hi] - x[lo]) * (1 - g) when the
    fraction g >= 0.5 (numpy.quantile itself would copy and partition the sorted values)."""
    position = (ordered.size - 1) * (np.arange(1, BINS) / BINS)
    low = np.floor(position)
    fraction = position - low
    low = low.astype(np.int64)
    below, above = ordered[low], ordered[np.minimum(low + 1, ordered.size - 1)]
    width = above - below
    return np.unique(np.where(fraction >= 0.5, above - width * (1 - fraction),
                              below + width * fraction))


def _categorical_side(frame: pl.DataFrame, name: str) -> _Side:
    """The column's value (as text) -> count, NULL and NaN left out (missing)."""
    if name not in frame.columns:
        return _Side(0, 0, 0, {})
    series = frame.get_column(name)
    raw_nulls = series.null_count()
    series = (series.fill_nan(None) if series.dtype.is_float() else series).cast(pl.String)
    if series.len() <= COUNTER_MAX_ROWS:
        counts = Counter(series.to_list())
        counts.pop(None, None)
    else:
        found = series.drop_nulls().value_counts(name="count")
        counts = Counter(dict(zip(found[name].to_list(), found["count"].to_list(),
                                  strict=True)))
    return _Side(frame.height, frame.height - raw_nulls, series.null_count(), counts)


def _categorical_row(cur: _Side, ref: _Side) -> dict[str, Any]:
    row = _common(cur, ref)
    if not (cur.values and ref.values):
        return row
    categories = sorted(cur.values.keys() | ref.values.keys())
    counts = np.array([[cur.values.get(c, 0) for c in categories],
                       [ref.values.get(c, 0) for c in categories]], dtype=np.float64)
    p, q = counts[0] / counts[0].sum(), counts[1] / counts[1].sum()
    return row | {
        "chi_squared_test": _chi2_homogeneity(counts),
        "js_distance": _js(p, q), "population_stability_index": _psi(p, q),
        "tv_distance": float(0.5 * np.abs(p - q).sum()),
        "l_infinity_distance": float(np.abs(p - q).max()),
    }


def _chi2_homogeneity(counts: np.ndarray) -> dict[str, float]:
    """Pearson's chi-squared test of homogeneity of a 2 x k table of counts whose columns
    all hold a count: the computation of `scipy.stats.chi2_contingency(correction=False)`
    (expected counts from the margins, k - 1 degrees of freedom, the p-value from
    `scipy.special.chdtrc` as `scipy.stats.chi2.sf`), without its per-call validation
    (about 2 ms)."""
    dof = counts.shape[1] - 1
    if dof == 0:
        return {"statistic": 0.0, "pvalue": 1.0}
    expected = np.outer(counts.sum(axis=1), counts.sum(axis=0)) / counts.sum()
    statistic = float(((counts - expected) ** 2 / expected).sum())
    return {"statistic": statistic, "pvalue": float(chdtrc(dof, statistic))}


def _js(p: np.ndarray, q: np.ndarray) -> float:
    with np.errstate(invalid="ignore"):
        value = float(jensenshannon(p, q, base=2))
    return 0.0 if math.isnan(value) else value  # sqrt of a rounding error below 0


def _psi(p: np.ndarray, q: np.ndarray) -> float:
    p, q = np.maximum(p, PSI_EPSILON), np.maximum(q, PSI_EPSILON)
    return float(np.sum((p - q) * np.log(p / q)))


_SIDE = {"numeric": _numeric_side, "categorical": _categorical_side, "counts": _counts_side}
_COMPARE = {"numeric": _numeric_row, "categorical": _categorical_row, "counts": _common}
