"""Windows and slices on hand-made rows, every expected value worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from lakehouse_ml.monitoring.spec import Monitor
from lakehouse_ml.monitoring.windows import (
    END,
    SLICE_KEY,
    SLICE_VALUE,
    START,
    MonitorError,
    assign_windows,
    granularity_label,
    sliced,
    window_of,
)

NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def windows(frame: pl.DataFrame, monitor: Monitor) -> list[tuple]:
    out = assign_windows(frame.lazy(), monitor, frame.schema).collect()
    return list(zip(out["id"], out[START], out[END], strict=True))


def test_day_windows_are_half_open_utc_days_whatever_the_time_zone() -> None:
    frame = pl.DataFrame({
        "id": [1, 2, 3, 4],
        "ts": [datetime(2026, 1, 1, 19, 0, tzinfo=NEW_YORK),   # 2026-01-02 00:00 UTC
               datetime(2026, 1, 1, 18, 59, 59, tzinfo=NEW_YORK),  # 2026-01-01 23:59:59 UTC
               datetime(2026, 1, 1, 0, 0, tzinfo=NEW_YORK),    # 05:00 UTC
               None],
    }, schema={"id": pl.Int64, "ts": pl.Datetime("us", "America/New_York")})
    monitor = Monitor("gold.t", "time_series", timestamp_col="ts")
    assert windows(frame, monitor) == [
        (1, utc(2026, 1, 2), utc(2026, 1, 3)),
        (2, utc(2026, 1, 1), utc(2026, 1, 2)),
        (3, utc(2026, 1, 1), utc(2026, 1, 2)),
    ]  # the NULL timestamp is in no window


def test_naive_times_are_utc_dates_their_midnight_and_other_granularities_align_to_epoch(
) -> None:
    naive = pl.DataFrame({"id": [1, 2], "ts": [datetime(2026, 1, 1, 5, 59),
                                               datetime(2026, 1, 1, 6, 0)]})
    six_hours = Monitor("gold.t", "time_series", timestamp_col="ts",
                        granularity=timedelta(hours=6))
    assert windows(naive, six_hours) == [(1, utc(2026, 1, 1), utc(2026, 1, 1, 6)),
                                         (2, utc(2026, 1, 1, 6), utc(2026, 1, 1, 12))]
    days = pl.DataFrame({"id": [1], "ts": [date(2026, 3, 4)]})
    assert windows(days, Monitor("gold.t", "time_series", timestamp_col="ts")) == [
        (1, utc(2026, 3, 4), utc(2026, 3, 5))]
    # 1970-01-01 was a Thursday: weeks since the epoch start on Thursdays
    week = Monitor("gold.t", "time_series", timestamp_col="ts", granularity=timedelta(days=7))
    assert windows(days, week) == [(1, utc(2026, 2, 26), utc(2026, 3, 5))]
    assert window_of(utc(2026, 3, 4, 12), timedelta(days=7)) == (utc(2026, 2, 26),
                                                                 utc(2026, 3, 5))


def test_a_snapshot_has_one_window_at_its_time() -> None:
    frame = pl.DataFrame({"id": [1, 2]})
    at = utc(2026, 5, 1, 8, 30)
    out = assign_windows(frame.lazy(), Monitor("gold.t", "snapshot"), frame.schema,
                         at).collect()
    assert out[START].to_list() == out[END].to_list() == [at, at]


def test_slices_are_each_expression_value_as_text_plus_the_whole_table() -> None:
    frame = pl.DataFrame({"tier": ["pro", None, "basic", "pro"], "x": [0.5, 2.0, 3.0, None]})
    monitor = Monitor("gold.t", "snapshot", slicing_exprs=("tier", "x > 1"))
    found = {key: part.collect()[SLICE_VALUE].to_list()
             for key, part in sliced(frame.lazy(), monitor)}
    assert found == {None: [None, None, None, None],
                     "tier": ["pro", None, "basic", "pro"],
                     "x > 1": ["false", "true", "true", None]}
    keys = [part.collect()[SLICE_KEY].unique().to_list()
            for _, part in sliced(frame.lazy(), monitor)]
    assert keys == [[None], ["tier"], ["x > 1"]]


def test_a_bad_monitor_is_a_clear_error() -> None:
    frame = pl.DataFrame({"ts": ["2026-01-01"], "x": [1]})
    with pytest.raises(MonitorError, match="timestamp column 'ts' is String"):
        assign_windows(frame.lazy(), Monitor("gold.t", "time_series", timestamp_col="ts"),
                       frame.schema)
    with pytest.raises(MonitorError, match="no timestamp column 'when'"):
        assign_windows(frame.lazy(), Monitor("gold.t", "time_series", timestamp_col="when"),
                       frame.schema)
    with pytest.raises(MonitorError, match="slicing expression 'x >>> 1'"):
        list(sliced(frame.lazy(), Monitor("gold.t", "snapshot", slicing_exprs=("x >>> 1",))))


def test_granularity_labels_follow_databricks() -> None:
    assert [granularity_label(timedelta(**k)) for k in (
        {"days": 1}, {"weeks": 1}, {"hours": 6}, {"minutes": 30}, {"days": 2})] == [
        "1 day", "1 week", "6 hours", "30 minutes", "2 days"]
