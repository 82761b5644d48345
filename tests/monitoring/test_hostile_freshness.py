"""Freshness against rows dated in the future: a sentinel such as 9999-12-31 (or a clock
error) must not keep a stale table looking fresh for ever."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.monitoring.freshness import freshness
from lakehouse_ml.monitoring.spec import Monitor

MONITOR = Monitor("gold.events", "time_series", timestamp_col="ts",
                  freshness=timedelta(days=2))


def test_rows_dated_in_the_future_are_no_evidence_of_freshness(tmp_path: Path) -> None:
    written = datetime.now(UTC)
    old = written - timedelta(days=30)
    catalog = Catalog(str(tmp_path), "dev")
    frame = pl.DataFrame({"ts": [old, datetime(9999, 12, 31, tzinfo=UTC)], "x": [1, 2]},
                         schema={"ts": pl.Datetime("us", "UTC"), "x": pl.Int64})
    catalog.create_table("gold.events", frame.schema, TableInfo(owner="t"))
    catalog.append("gold.events", frame)

    found = freshness(catalog, MONITOR, now=written + timedelta(days=10))

    assert not found.fresh
    assert found.latest_row == old
    assert "1 rows dated more than 1:00:00 after now not counted" in found.reason
    assert freshness(catalog, MONITOR, now=written + timedelta(days=1)).fresh  # the commit
