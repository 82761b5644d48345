"""A refresh holds the sorted values of one column group at a time (issue 12's memory goal:
peak under twice the data): profile and drift go over `profile.column_groups`, each side's
numeric columns of a group sorted once and released before the next group, and the metric
tables are the same as from one group of every column."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.monitoring import refresh as refresh_module
from lakehouse_ml.monitoring.profile import COLUMN_GROUP, column_groups
from lakehouse_ml.monitoring.refresh import refresh
from lakehouse_ml.monitoring.spec import BaselineTable, Monitor
from tests.monitoring.test_refresh import tables

NUMERIC, ROWS = 64, 30_000
MONITOR = Monitor("gold.wide", "time_series", timestamp_col="ts", slicing_exprs=("tier",),
                  baseline=BaselineTable("gold.wide_reference"))
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def wide(seed: int, rows: int) -> pl.DataFrame:
    """`rows` rows of one day: NUMERIC float columns, a string and a timestamp."""
    rng = np.random.default_rng(seed)
    return pl.DataFrame({
        "ts": [T0 + timedelta(seconds=int(s)) for s in rng.integers(0, 86_400, rows)],
        "tier": np.array(["basic", "pro"])[rng.integers(0, 2, rows)],
        **{f"num_{i:02d}": rng.normal(i, 1 + i % 3, rows) for i in range(NUMERIC)},
    })


def lakehouse(root: Path, size: int = ROWS) -> Catalog:
    catalog = Catalog(str(root), "dev")
    for name, seed in (("gold.wide", 1), ("gold.wide_reference", 2)):
        rows = wide(seed, size)
        catalog.create_table(name, rows.schema, TableInfo(owner="t"))
        catalog.append(name, rows)
    return catalog


def test_the_columns_go_in_groups_of_sorted_columns_after_the_unsorted_ones() -> None:
    kinds = {"a": "numeric", "s": "string", "b": "numeric", "c": "numeric", "k": "numeric",
             "t": "temporal"}
    categorical = {"a": False, "s": True, "b": False, "c": False, "k": True, "t": False}
    assert column_groups(kinds, categorical, size=2) == [["s", "k", "t", "a", "b"], ["c"]]
    assert column_groups(kinds, categorical) == [["s", "k", "t", "a", "b", "c"]]
    assert column_groups({}, {}) == [[]]
    with pytest.raises(ValueError, match="at least 1 column, got 0"):
        column_groups(kinds, categorical, size=0)


def test_a_refresh_holds_one_column_groups_sorted_values_at_a_time(tmp_path: Path) -> None:
    catalog = lakehouse(tmp_path)
    refresh(catalog, MONITOR)  # imports, caches and the metric tables in place first
    tracemalloc.start()
    try:
        result = refresh(catalog, MONITOR, full=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.windows and NUMERIC > COLUMN_GROUP
    # numpy's sorted copies are traced. Every numeric column of one side sorted is NUMERIC x
    # ROWS x 8 bytes (15 MB), twice with the slices' (whole table + each tier): holding every
    # column of the window and of the baseline at once was 4x that; one group's is an eighth
    side = NUMERIC * ROWS * 8
    assert peak < side, f"peak {peak / 2**20:.1f} MiB, one side {side / 2**20:.1f} MiB"


def test_the_metric_tables_are_those_of_one_group_of_every_column(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    grouped = lakehouse(tmp_path / "grouped", 2_000)
    refresh(grouped, MONITOR)
    whole = lakehouse(tmp_path / "whole", 2_000)
    monkeypatch.setattr(refresh_module, "column_groups", partial(column_groups, size=NUMERIC))
    refresh(whole, MONITOR)
    (profile, drift), (profile_whole, drift_whole) = (tables(grouped, MONITOR),
                                                      tables(whole, MONITOR))
    assert profile.height == profile_whole.height > NUMERIC
    assert drift.height == drift_whole.height > NUMERIC
    assert profile.equals(profile_whole)
    assert drift.equals(drift_whole)
