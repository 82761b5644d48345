"""The point-in-time boundaries, exactly, on every path that applies them.

A feature row stamped exactly at the request time is seen; one a microsecond after is not. A row
exactly `lookback_window` old is seen; one a microsecond older is not. Offline (the as-of join),
online on frames (`lookup_online`) and online row by row (`RowLookup`, serving's path) must all
agree on these instants (issue 8: each `<=` turned into `<` survived the suite before).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest

from lakehouse_ml.features import FeatureEngineeringClient, FeatureLookup
from lakehouse_ml.features.timestamps import STORED

from .timeline import at, utc_frame

US = timedelta(microseconds=1)
WINDOW = timedelta(days=1)
STAMP = at(2)
"""The only feature row of key 1: spend 2.0, stamped at day 2."""
KEY_TYPES = pl.Schema({"cid": pl.Int64})


@pytest.fixture
def stamped(fe: FeatureEngineeringClient) -> FeatureEngineeringClient:
    fe.create_table("gold.spend", "cid", timeseries_column="ts",
                    df=utc_frame({"cid": [1], "ts": [STAMP], "spend": [2.0]}))
    fe.publish_table("gold.spend")
    return fe


def offline(fe: FeatureEngineeringClient, lookup: FeatureLookup, t: datetime) -> float | None:
    rows = utc_frame({"cid": [1], "t": [t]})
    return fe.create_training_set(rows, [lookup], label=None).load_df()["spend"].item()


def online_frames(fe: FeatureEngineeringClient, lookup: FeatureLookup, t: datetime
                  ) -> float | None:
    return fe.lookup_online(utc_frame({"cid": [1], "t": [t]}), [lookup])["spend"].item()


def online_rows(fe: FeatureEngineeringClient, lookup: FeatureLookup, t: datetime
                ) -> float | None:
    (value,) = fe.row_lookup([lookup], KEY_TYPES, ["spend"])({"cid": [1]}, t)["spend"]
    return value


PATHS = {"offline": offline, "online_frames": online_frames, "online_rows": online_rows}


@pytest.mark.parametrize("path", PATHS)
def test_row_stamped_exactly_at_request_time_is_used_one_microsecond_later_is_not(
    stamped: FeatureEngineeringClient, path: str
) -> None:
    """Kills `stamp <= now` → `stamp < now` (LatestJoin in pit.py, _TableRows in row_lookup)."""
    lookup = FeatureLookup("gold.spend", "cid", "t")
    get = PATHS[path]
    assert get(stamped, lookup, STAMP) == 2.0
    assert get(stamped, lookup, STAMP - US) is None
    assert get(stamped, lookup, STAMP + US) == 2.0


@pytest.mark.parametrize("path", PATHS)
def test_row_exactly_lookback_window_old_is_used_one_microsecond_older_is_not(
    stamped: FeatureEngineeringClient, path: str
) -> None:
    """Kills the lookback `<=` → `<` (pit.py's as-of join and LatestJoin, row_lookup's rows)."""
    lookup = FeatureLookup("gold.spend", "cid", "t", lookback_window=WINDOW)
    get = PATHS[path]
    assert get(stamped, lookup, STAMP + WINDOW) == 2.0
    assert get(stamped, lookup, STAMP + WINDOW + US) is None
    assert get(stamped, lookup, STAMP + WINDOW - US) == 2.0
    assert get(stamped, lookup, STAMP) == 2.0


def test_request_time_at_a_coarser_or_finer_unit_keeps_the_boundaries(
    stamped: FeatureEngineeringClient,
) -> None:
    """The same instants given in nanoseconds (finer than the table's microseconds)."""
    lookup = FeatureLookup("gold.spend", "cid", "t", lookback_window=WINDOW)
    times = [STAMP, STAMP + WINDOW, STAMP + WINDOW + US, STAMP - US]
    rows = pl.DataFrame({"cid": [1] * 4, "t": times}).with_columns(
        pl.col("t").cast(STORED).dt.cast_time_unit("ns"))
    expected = [2.0, 2.0, None, None]
    assert stamped.create_training_set(rows, [lookup], label=None).load_df()["spend"].to_list() \
        == expected
    assert stamped.lookup_online(rows, [lookup])["spend"].to_list() == expected
