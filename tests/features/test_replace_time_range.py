"""`replace_time_range`: a recomputation of some times replaces exactly those times' rows.

Feature snapshots are written this way (`features.snapshots`): on a table partitioned by its
timeseries column, only the files of the replaced times change, and a row the recomputation no
longer gives is gone, as in a backfill that never wrote it (a merge would keep it).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest
from deltalake import DeltaTable
from polars.testing import assert_frame_equal

from lakehouse_ml.features import FeatureStoreError
from lakehouse_ml.features.errors import TimestampError

from .timeline import at, utc_frame

NAME = "gold.spend_days"


def rows(keys: list[int], days: list[int], values: list[float]) -> pl.DataFrame:
    return utc_frame({"cid": keys, "ts": [at(d) for d in days], "spend": values})


@pytest.fixture
def spend_days(fe):
    """Keys 1..3 on days 0, 1 and 2, partitioned by day (one file per day)."""
    fe.create_table(NAME, ["cid"], schema=rows([1], [0], [0.0]).schema, timeseries_column="ts",
                    partition_columns=["ts"])
    fe.write_table(NAME, rows([1, 2, 3] * 3, [0] * 3 + [1] * 3 + [2] * 3,
                              [float(v) for v in range(9)]))
    return NAME


def files(fe) -> set[str]:
    catalog = fe.catalog
    return set(DeltaTable(catalog.location(catalog.name(NAME))).file_uris())


def stored(fe) -> pl.DataFrame:
    return fe.read_table(NAME).sort("ts", "cid")


def test_replaces_the_range_only_and_drops_rows_the_recomputation_lacks(fe, spend_days):
    before_files, before = files(fe), stored(fe)
    version = fe.replace_time_range(NAME, rows([2, 1], [1, 1], [40.0, 41.0]), at(1), at(2))
    assert version == fe.get_table(NAME).version == 2
    expected = pl.concat([before.filter(pl.col("ts") != at(1)),
                          rows([1, 2], [1, 1], [41.0, 40.0])]).sort("ts", "cid")
    assert_frame_equal(stored(fe), expected)  # key 3 of day 1 is gone, days 0 and 2 kept
    after_files = files(fe)
    removed, added = before_files - after_files, after_files - before_files
    assert len(removed) == 1 and len(added) == 1
    day = at(1).date().isoformat()
    assert all(day in uri for uri in removed | added), (removed, added)


def test_no_rows_empties_the_range(fe, spend_days):
    fe.replace_time_range(NAME, rows([1], [0], [0.0]).clear(), at(0), at(1))
    assert stored(fe)["ts"].unique().sort().to_list() == [at(1), at(2)]


def test_a_row_outside_the_range_is_refused_and_nothing_written(fe, spend_days):
    before = stored(fe)
    with pytest.raises(FeatureStoreError, match=r"1 row\(s\) stamped outside"):
        fe.replace_time_range(NAME, rows([1, 1], [1, 2], [5.0, 6.0]), at(1), at(2))
    with pytest.raises(FeatureStoreError, match="stamped outside"):  # the start is included
        fe.replace_time_range(NAME, rows([1], [0], [5.0]), at(0, seconds=1), at(2))
    assert fe.get_table(NAME).version == 1
    assert_frame_equal(stored(fe), before)


def test_naive_bounds_and_tables_without_time_are_refused(fe, spend_days):
    with pytest.raises(TimestampError, match="no time zone"):
        fe.replace_time_range(NAME, rows([1], [1], [5.0]), datetime(2024, 1, 2), at(2))
    fe.create_table("gold.plain", ["cid"], df=pl.DataFrame({"cid": [1], "spend": [1.0]}))
    with pytest.raises(FeatureStoreError, match="has no timeseries column"):
        fe.replace_time_range("gold.plain", pl.DataFrame({"cid": [1], "spend": [2.0]}),
                              at(0), at(1))
    assert fe.get_table(NAME).version == 1
