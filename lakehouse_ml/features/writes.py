"""Rows about to be written to a feature table: validated, normalized and laid out.

Feature tables are written sorted by primary key then time, so that a point-in-time read finds
them already in join order and file statistics on the key prune well.
"""

from __future__ import annotations

import polars as pl

from lakehouse_ml.features.errors import DuplicateKeyError, FeatureStoreError
from lakehouse_ml.features.frames import require_columns
from lakehouse_ml.features.timestamps import STORED, require_aware, utc


def prepare_rows(
    df: pl.DataFrame, primary_keys: list[str], timeseries_column: str | None, table: str
) -> pl.DataFrame:
    """`df` with UTC microsecond timestamps, sorted by key; refuses null or duplicate keys."""
    require_columns(df, primary_keys, f"rows for feature table {table}")
    if timeseries_column is not None:
        require_aware(df.schema, timeseries_column, f"rows for feature table {table}")
        df = df.with_columns(utc(timeseries_column, STORED.time_unit))
    nulls = [k for k in primary_keys if df[k].has_nulls()]
    if nulls:
        raise FeatureStoreError(f"feature table {table}: primary key column(s) {nulls} have nulls")
    # a builder that hands its rows in order (e.g. built in key ranges) spares the copy
    rows = df if _in_order(df, primary_keys) else df.sort(primary_keys)
    _refuse_duplicates(rows, primary_keys, table)
    return rows


def _in_order(df: pl.DataFrame, keys: list[str]) -> bool:
    """Whether `df`'s rows (no null key) are already sorted by `keys`: each row's keys are at
    or after the previous row's. One pass, no copy of the frame."""
    after = pl.lit(False)
    same = pl.lit(True)
    for key in keys:
        previous = pl.col(key).shift(1)
        after = after | (same & (pl.col(key) > previous))
        same = same & (pl.col(key) == previous)
    return bool(df.select((after | same).slice(1).all()).item())


def _refuse_duplicates(sorted_rows: pl.DataFrame, keys: list[str], table: str) -> None:
    """Duplicates are adjacent once sorted, so one pass without hashing finds them."""
    same_as_previous = pl.all_horizontal(pl.col(k) == pl.col(k).shift(1) for k in keys)
    duplicates = sorted_rows.select(keys).filter(same_as_previous)
    if duplicates.height:
        example = duplicates.row(0, named=True)
        raise DuplicateKeyError(
            f"feature table {table}: {duplicates.height} row(s) repeat a primary key "
            f"{keys} already in the same write, e.g. {example}; keep one row per key"
        )
