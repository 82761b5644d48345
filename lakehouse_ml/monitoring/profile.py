"""Profile metrics: per window and slice, one row per profiled column and a `:table` row.

Definitions (a group is the rows of one window and slice; `rows` its number of rows):

- `:table` row: `count` = rows; every other metric NULL (the QUALITY columns are filled by
  `refresh` for inference logs).
- `count`: the number of non-NULL values (SQL `count(col)`; a NaN is a value).
- `num_nulls`, `percent_null` = 100 · num_nulls / rows. Percentages are in percent, 0..100,
  as Databricks writes them (its dashboards and examples compare `percent_null` with values
  such as 10 for 10 %).
- `num_nan`, `percent_nan` = 100 · num_nan / rows: NaN values of floating columns (0 for other
  numeric columns, NULL for non-numeric ones).
- `num_zeros`, `percent_zeros` = 100 · num_zeros / rows: values equal to 0 (numeric columns).
- Numeric columns (integers, floats, decimals; read as Float64), over the values that are
  neither NULL nor NaN ("finite" below also admits ±inf): `avg` (arithmetic mean), `stddev`
  (sample standard deviation, ddof = 1; NULL for fewer than 2 values), `min`, `max`,
  `quantiles` (the values at `schema.QUANTILES` 0, 0.05, ..., 1 by linear interpolation
  between order statistics: at p, position h = p · (n − 1) of the sorted values x₀..xₙ₋₁,
  x⌊h⌋ + (h − ⌊h⌋)(x⌈h⌉ − x⌊h⌋), numpy's default `linear` method), `median` = the 0.5
  quantile. ±inf values are values, as in Databricks (Spark's `percentile_approx` over the
  column returns values of the data, ±inf at the tails when the data holds them, never NaN):
  where x⌊h⌋ or x⌈h⌉ is infinite the quantile is the infinite one (the limit of the
  formula, which would give inf − inf = NaN), between −inf and +inf the nearer of the two
  (x⌊h⌋ when h − ⌊h⌋ < 0.5). avg and stddev are NaN when both +inf and −inf occur (Spark's
  `avg` too). All NULL when no such value.
- `distinct_count`: the number of distinct non-NULL values (all NaNs count as one value);
  `percent_distinct` = 100 · distinct_count / count (NULL when count is 0).
- `frequent_items`: for categorical columns (strings, booleans, categoricals, and numeric
  columns the monitor declares `categorical`), the 10 most frequent non-NULL values as text
  (booleans `true`/`false`) with their counts, by count descending, then by value ascending
  (byte order); NULL for other columns.
- `avg_length`, `min_length`, `max_length`: lengths in characters (Unicode code points) of the
  non-NULL values of string columns; NULL for other columns.
- Date, time, datetime and duration columns get `count`, nulls and `distinct_count` only.

A column of another type (lists, structs, binary, objects) is not profiled: `profiled_columns`
reports it with the reason.

One polars `group_by` over (window, slice) computes every group of a slicing expression at
once (rows, NULLs, lengths, value counts) over the non-numeric columns only (a group-by copies
the columns it reads into one chunk); numpy then sorts each numeric column once per group,
read in place (one group: the whole column; else gathered by the group's row positions), one
column per core, and reads NULLs, NaNs, zeros, avg, stddev, min, max, quantiles and the
distinct count from the sorted values (NULL and NaN sort last).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from lakehouse_ml.monitoring.drift import sorted_values
from lakehouse_ml.monitoring.schema import PROFILE_METRICS, QUANTILES, TABLE_LEVEL
from lakehouse_ml.monitoring.spec import Monitor
from lakehouse_ml.monitoring.windows import END, SLICE_KEY, SLICE_VALUE, START

Kind = Literal["numeric", "categorical", "string", "temporal"]
"""numeric: number statistics; categorical: frequent items (booleans, categoricals, numbers
declared categorical: also number statistics for the latter); string: frequent items and
lengths; temporal: counts only."""
GROUP = [START, END, SLICE_KEY, SLICE_VALUE]
TOP_ITEMS = 10
ITEMS = pl.List(pl.Struct({"item": pl.String, "count": pl.Int64}))
_TEMPORAL = (pl.Date, pl.Datetime, pl.Time, pl.Duration)
ROW = "_row"
COLUMN_GROUP = 8
"""Sorted (numeric) columns per `column_groups` group: each side's sorted values are held for
8 columns at a time (64 MB a side at a million rows, instead of every column's), and a group
still gives each core columns to sort."""
"""Each group's row positions, which numpy gathers each numeric column's values by."""


def kind_of(dtype: pl.DataType) -> Kind | None:
    """The profile kind of a column dtype, None when it cannot be profiled."""
    if dtype.is_numeric():
        return "numeric"
    if dtype == pl.String:
        return "string"
    if dtype == pl.Boolean or isinstance(dtype, pl.Categorical | pl.Enum):
        return "categorical"
    if isinstance(dtype, _TEMPORAL):
        return "temporal"
    return None


def profiled_columns(schema: pl.Schema, monitor: Monitor
                     ) -> tuple[dict[str, Kind], dict[str, bool], dict[str, str]]:
    """(column → kind, column → categorical for drift, skipped column → reason) of the columns
    the monitor profiles: `monitor.columns`, or every column but the timestamp, the inference
    log's model-id column and `exclude`. A declared column missing from the table is skipped
    with that reason too."""
    log = monitor.inference_log
    excluded = {monitor.timestamp_col, *monitor.exclude,
                *((log.model_id_col,) if log else ())}
    wanted = monitor.columns if monitor.columns is not None else tuple(
        c for c in schema if c not in excluded)
    kinds: dict[str, Kind] = {}
    categorical: dict[str, bool] = {}
    skipped: dict[str, str] = {}
    for column in wanted:
        if column not in schema:
            skipped[column] = "declared by the monitor but not in the table"
            continue
        kind = kind_of(schema[column])
        if kind is None:
            skipped[column] = f"type {schema[column]} cannot be profiled"
            continue
        kinds[column] = kind
        categorical[column] = kind in ("string", "categorical") or column in monitor.categorical
    return kinds, categorical, skipped


def column_groups(kinds: Mapping[str, Kind], categorical: Mapping[str, bool],
                  size: int = COLUMN_GROUP) -> list[list[str]]:
    """The columns of `kinds` in the groups a refresh profiles and compares one after the
    other, so that each side's sorted values are held for one group at a time: the first
    group holds every column that is not sorted (categorical, string, temporal: value
    counts and NULLs) and the first `size` sorted ones (numeric, not declared categorical),
    each next group the next `size` sorted ones. One group, maybe empty, when there are at
    most `size` sorted columns. ValueError for a `size` below 1."""
    if size < 1:
        raise ValueError(f"a column group holds at least 1 column, got {size}")
    ordered = [c for c, kind in kinds.items() if kind == "numeric" and not categorical.get(c)]
    rest = [c for c in kinds if c not in set(ordered)]
    return [rest + ordered[:size], *(ordered[i:i + size] for i in range(size, len(ordered),
                                                                         size))]


def _name(column: str, metric: str) -> str:
    return f"{column}\x00{metric}"


def _aggregations(column: str, kind: Kind, categorical: bool) -> list[pl.Expr]:
    """The group-by's aggregations of a column (none for a numeric column that is not
    categorical: numpy computes its statistics, `_number_statistics`)."""
    value = pl.col(column)
    out = [] if kind == "numeric" else [value.null_count().alias(_name(column, "num_nulls"))]
    if kind in ("string", "categorical") or categorical:
        out.append(value.cast(pl.String).drop_nulls().value_counts(name="count")
                   .alias(_name(column, "items")))
    elif kind == "temporal":
        out.append(value.drop_nulls().n_unique().alias(_name(column, "distinct_count")))
    if kind == "string":
        length = value.str.len_chars()
        out += [length.mean().alias(_name(column, "avg_length")),
                length.min().cast(pl.Int64).alias(_name(column, "min_length")),
                length.max().cast(pl.Int64).alias(_name(column, "max_length"))]
    return out


def _quantiles(ordered: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """The quantiles of the sorted, NaN-free `ordered` at `probabilities` (see the module
    docstring: linear interpolation; an infinite neighbour wins, the nearer of −inf and
    +inf)."""
    position = probabilities * (ordered.size - 1)
    low = np.floor(position).astype(np.int64)
    weight = position - low
    below, above = ordered[low], ordered[np.ceil(position).astype(np.int64)]
    with np.errstate(invalid="ignore"):  # inf - inf, replaced below
        linear = below + (above - below) * weight
    infinite_below, infinite_above = np.isinf(below), np.isinf(above)
    return np.select(
        [infinite_below & infinite_above, infinite_below, infinite_above],
        [np.where(weight < 0.5, below, above), below, above], linear)


def _number_statistics(column: pl.Series, groups: pl.Series,
                       presorted: list[np.ndarray | None]) -> pl.DataFrame:
    """num_nulls, num_nan, num_zeros, avg, stddev, min, max, quantiles and the distinct count
    of the numbers of `column` in each group (`groups`: each group's row positions, NULL for
    all rows): one numpy sort per group (numpy's vectorized sort is several times faster
    than polars' here), NULL and NaN sorted last, so the numbers are a view of the sorted
    values; `presorted`: per group its values already sorted so, or None (sorted here)."""
    everything = column.cast(pl.Float64).to_numpy()  # NULL -> NaN
    missing = column.is_null().to_numpy() if column.null_count() else None
    probabilities = np.asarray(QUANTILES)
    rows = []
    for positions, given in zip(groups, presorted, strict=True):
        rows_at = None if positions is None else positions.to_numpy()
        ordered = (given if given is not None
                   else sorted_values(everything) if rows_at is None  # one group: read once
                   else np.sort(everything[rows_at]))
        group_nulls = (0 if missing is None else column.null_count() if rows_at is None
                       else int(np.count_nonzero(missing[rows_at])))
        length = int(np.searchsorted(ordered, np.nan, side="left"))  # NULL and NaN after
        nans = ordered.size - length - group_nulls
        zeros = int(np.searchsorted(ordered[:length], 0.0, side="right")
                    - np.searchsorted(ordered[:length], 0.0, side="left"))
        if length == 0:
            rows.append((group_nulls, nans, zeros, None, None, None, None, None, 0))
            continue
        ordered = ordered[:length]
        quantiles = _quantiles(ordered, probabilities)
        with np.errstate(invalid="ignore"):  # +inf and -inf: NaN mean and stddev
            mean = float(ordered.mean())
            stddev = float(ordered.std(ddof=1)) if length > 1 else None
        rows.append((group_nulls, nans, zeros, mean, stddev, float(ordered[0]),
                     float(ordered[-1]), quantiles.tolist(),
                     int(np.count_nonzero(ordered[1:] != ordered[:-1])) + 1))
    return pl.DataFrame(rows, orient="row", schema={
        "_num_nulls": pl.Int64, "_num_nan": pl.Int64, "_num_zeros": pl.Int64,
        "avg": pl.Float64, "stddev": pl.Float64, "min": pl.Float64, "max": pl.Float64,
        "quantiles": pl.List(pl.Float64), "_distinct": pl.Int64})


def _percent(part: pl.Expr, whole: pl.Expr) -> pl.Expr:
    return pl.when(whole > 0).then(100.0 * part / whole)


def _metrics(column: str, kind: Kind, categorical: bool, dtype: pl.DataType) -> list[pl.Expr]:
    """The PROFILE_METRICS columns of `column` from the group-by's outputs."""
    rows = pl.col("_rows")
    nulls = pl.col("_num_nulls" if kind == "numeric" else _name(column, "num_nulls")).cast(
        pl.Int64)
    count = rows - nulls
    out = {"column_name": pl.lit(column), "data_type": pl.lit(str(dtype)), "count": count,
           "num_nulls": nulls, "percent_null": _percent(nulls, rows)}
    if kind == "numeric":
        nans, zeros = pl.col("_num_nan"), pl.col("_num_zeros")
        out |= {
            "num_nan": nans, "percent_nan": _percent(nans, rows),
            "num_zeros": zeros, "percent_zeros": _percent(zeros, rows),
            "avg": pl.col("avg"), "stddev": pl.col("stddev"), "min": pl.col("min"),
            "max": pl.col("max"), "median": pl.col("quantiles").list.get(len(QUANTILES) // 2),
            "quantiles": pl.col("quantiles"),
            "distinct_count": pl.col("_distinct") + (nans > 0).cast(pl.Int64),
        }
    if kind in ("string", "categorical") or categorical:
        items = pl.col(_name(column, "items"))
        top = items.list.eval(
            pl.element().sort_by(pl.element().struct.field("count"),
                                 pl.element().struct.field(column),
                                 descending=[True, False])
            .head(TOP_ITEMS)
            .struct.rename_fields(["item", "count"]))
        out["frequent_items"] = top.cast(ITEMS)
        if kind != "numeric":
            out["distinct_count"] = items.list.len().cast(pl.Int64)
    if kind == "temporal":
        out["distinct_count"] = pl.col(_name(column, "distinct_count")).cast(pl.Int64)
    if kind == "string":
        out |= {m: pl.col(_name(column, m)) for m in ("avg_length", "min_length", "max_length")}
    out["percent_distinct"] = _percent(out.get("distinct_count", pl.lit(None, pl.Int64)), count)
    return [expr.alias(name) for name, expr in out.items()]


METRIC_COLUMNS = [c for c in PROFILE_METRICS if c not in ("window", "granularity", "model_id",
                                                         SLICE_KEY, SLICE_VALUE)]


@dataclass(frozen=True)
class GroupLayout:
    """A frame's groups (GROUP columns), found once for every column group profiled."""

    groups: pl.DataFrame
    """GROUP columns and `_rows` (the group's rows), one row per group, in order of first
    appearance."""
    positions: pl.Series
    """Each group's row positions (one group: NULL, all rows)."""


def group_layout(frame: pl.DataFrame) -> GroupLayout:
    """The groups of `frame` (which carries the GROUP columns) for `profile(..., layout=)`."""
    groups = frame.group_by(GROUP, maintain_order=True).agg(pl.len().cast(pl.Int64)
                                                            .alias("_rows"))
    return GroupLayout(groups, _positions(frame, groups.height))


def _positions(frame: pl.DataFrame, groups: int) -> pl.Series:
    """Each group's row positions in `frame` (one group: NULL, all rows, not listed)."""
    if groups == 1:
        return pl.Series(ROW, [None], pl.List(pl.UInt32))
    return (frame.select(GROUP).with_row_index(ROW).group_by(GROUP, maintain_order=True)
            .agg(pl.col(ROW))[ROW])


def profile(frame: pl.LazyFrame, kinds: Mapping[str, Kind],
            categorical: Mapping[str, bool],
            presorted: Callable[[tuple, str], np.ndarray | None] | None = None,
            layout: GroupLayout | None = None) -> pl.DataFrame:
    """Profile rows of `frame`, which carries the GROUP columns (`_window_start`,
    `_window_end`, `slice_key`, `slice_value`): the GROUP columns, `column_name` and the
    metric columns of PROFILE_METRICS (QUALITY columns and the commit version NULL), one
    `:table` row and one row per column of `kinds` for each group present in `frame`.
    `presorted(group key, numeric column)`: the group's values of the column sorted, NULL and
    NaN last (as `drift.Prepared.sorted_column` holds them), or None: a column sorted for
    drift is not sorted again. `layout`: `group_layout` of `frame`, when it is profiled column
    group by column group (`column_groups`): its groups are not looked for again."""
    schema = frame.collect_schema()
    aggregations = [pl.len().cast(pl.Int64).alias("_rows")]
    for column, kind in kinds.items():
        aggregations += _aggregations(column, kind, categorical.get(column, False))
    data = frame.select(*GROUP, *kinds).collect()
    numeric = [column for column, kind in kinds.items() if kind == "numeric"]
    # a group-by copies the columns it reads into one chunk: it reads only those it needs
    read = [c for c in kinds if c not in numeric or categorical.get(c)]
    if layout is None or read:
        grouped = data.select(*GROUP, *read).group_by(GROUP, maintain_order=True).agg(
            aggregations)
    else:  # numbers only: the groups as found once
        grouped = layout.groups
    positions = _positions(data, grouped.height) if layout is None else layout.positions
    keys = grouped.select(GROUP).rows()
    table = grouped.select(*GROUP, pl.lit(TABLE_LEVEL).alias("column_name"),
                           pl.col("_rows").alias("count"))
    with ThreadPoolExecutor(max_workers=max(1, min(len(numeric), os.cpu_count() or 1))) as pool:
        statistics = dict(zip(numeric, pool.map(
            lambda column: _number_statistics(
                data.get_column(column), positions,
                [presorted(key, column) if presorted else None for key in keys]), numeric),
            strict=True))  # numpy sorts without the GIL: one column per core
    parts = [table]
    for column, kind in kinds.items():
        source = grouped
        if kind == "numeric":
            source = pl.concat([grouped, statistics[column]], how="horizontal")
        parts.append(source.select(*GROUP, *_metrics(column, kind, categorical.get(column, False),
                                                     schema[column])))
    present = set().union(*(part.columns for part in parts))
    return pl.concat(parts, how="diagonal_relaxed").select(
        *GROUP, *(pl.col(c).cast(PROFILE_METRICS[c]) if c in present
                  else pl.lit(None, PROFILE_METRICS[c]).alias(c) for c in METRIC_COLUMNS))
