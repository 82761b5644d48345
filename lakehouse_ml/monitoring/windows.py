"""Which window and slice each row of a monitored table belongs to.

Windows are half-open UTC intervals [start, end) of `Monitor.granularity`, aligned to the Unix
epoch: with the default granularity of one day, the UTC calendar days. A row's window is the
one holding its `timestamp_col` (a Datetime, naive values read as UTC, or a Date, read as its
UTC midnight); a row whose timestamp is NULL, or outside EARLIEST .. LATEST (years 2 to 9997:
a window and its neighbours must be Python datetimes), is in no window. A `snapshot` monitor has one
window per table version it profiles: start = end = the commit time of that Delta version
(not the refresh's wall-clock time), so profiling an unchanged table again replaces the same
window instead of adding one.

Slices follow Databricks: each slicing expression (a column name or a polars SQL expression,
`pl.sql_expr`) is a `slice_key`; each distinct value of it, as text (booleans `true`/`false`),
is a `slice_value`; rows where it is NULL form the slice whose `slice_value` is NULL. The whole
table is the slice whose `slice_key` and `slice_value` are both NULL.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import UTC, datetime, timedelta

import polars as pl

from lakehouse_ml.monitoring.schema import UTC_TIME
from lakehouse_ml.monitoring.spec import Monitor

START, END = "_window_start", "_window_end"
SLICE_KEY, SLICE_VALUE = "slice_key", "slice_value"
_US = timedelta(microseconds=1)
EARLIEST = datetime(2, 1, 1, tzinfo=UTC)
LATEST = datetime(9998, 1, 1, tzinfo=UTC)
"""Rows are placed in windows when EARLIEST <= timestamp < LATEST."""


class MonitorError(ValueError):
    """A monitor that cannot be applied to its table (missing or mistyped column, bad slice
    expression); the message names the monitor and the column or expression."""


def utc_time(column: str, dtype: pl.DataType, where: str) -> pl.Expr:
    """`column` as a UTC microsecond Datetime: naive Datetimes are read as UTC, Dates as their
    midnight. MonitorError for any other dtype."""
    if dtype == UTC_TIME:
        return pl.col(column)  # as stored: a filter on it can skip files
    if isinstance(dtype, pl.Datetime):
        value = pl.col(column)
        value = (value.dt.replace_time_zone("UTC") if dtype.time_zone is None
                 else value.dt.convert_time_zone("UTC"))
        return value.cast(UTC_TIME)
    if dtype == pl.Date:
        return pl.col(column).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    raise MonitorError(f"{where}: timestamp column {column!r} is {dtype}, not a Date or "
                       "Datetime")


def time_of(monitor: Monitor, schema: pl.Schema) -> pl.Expr:
    """The monitor's timestamp column as UTC (`utc_time`); MonitorError naming the column and
    the table's columns when it is missing."""
    column = str(monitor.timestamp_col)
    if column not in schema:
        raise MonitorError(f"monitor of {monitor.table}: no timestamp column {column!r} "
                           f"(columns: {', '.join(schema)})")
    return utc_time(column, schema[column], f"monitor of {monitor.table}")


def placeable(time: pl.Expr) -> pl.Expr:
    """True where the UTC `time` can be placed in a window (not NULL, EARLIEST..LATEST)."""
    return time.is_between(pl.lit(EARLIEST, UTC_TIME), pl.lit(LATEST, UTC_TIME),
                           closed="left").fill_null(False)


def granularity_us(granularity: timedelta) -> int:
    return granularity // _US


def window_start(time: pl.Expr, granularity: timedelta) -> pl.Expr:
    """The start of the window holding `time` (a UTC Datetime): floor to a multiple of
    `granularity` since the Unix epoch."""
    step = granularity_us(granularity)
    epoch_us = time.dt.epoch("us")
    return ((epoch_us // step) * step).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def window_of(moment: datetime, granularity: timedelta) -> tuple[datetime, datetime]:
    """The window [start, end) holding the aware `moment`."""
    step = granularity_us(granularity)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    start = epoch + ((moment - epoch) // _US // step) * step * _US
    return start, start + granularity


def assign_windows(frame: pl.LazyFrame, monitor: Monitor, schema: pl.Schema,
                   snapshot_time: datetime | None = None) -> pl.LazyFrame:
    """`frame` with `_window_start` and `_window_end` (UTC); rows outside every window (NULL
    timestamp, or outside EARLIEST..LATEST) dropped. `snapshot_time`: the window of a
    snapshot monitor."""
    if monitor.profile_type == "snapshot":
        if snapshot_time is None:
            raise ValueError(f"monitor of {monitor.table}: a snapshot needs its time")
        moment = pl.lit(snapshot_time, dtype=UTC_TIME)
        return frame.with_columns(moment.alias(START), moment.alias(END))
    time = time_of(monitor, schema)
    return (frame.filter(placeable(time))
            .with_columns(window_start(time, monitor.granularity).alias(START))
            .with_columns((pl.col(START) + monitor.granularity).alias(END)))


def slice_value(expression: str, monitor: Monitor) -> pl.Expr:
    """The slice value of each row for one slicing expression, as text."""
    try:
        parsed = pl.sql_expr(expression)
    except Exception as error:  # polars raises several error types for bad SQL
        raise MonitorError(f"monitor of {monitor.table}: slicing expression {expression!r} "
                           f"is not valid SQL: {error}") from error
    return parsed.cast(pl.String)


def slice_of(frame: pl.LazyFrame, expression: str | None, monitor: Monitor) -> pl.LazyFrame:
    """`frame` with `slice_key` and `slice_value` columns for one slicing expression (None:
    the whole table). MonitorError when `expression` is not valid SQL; an expression over a
    column `frame` lacks fails when collected (polars' ColumnNotFoundError)."""
    if expression is None:
        return frame.with_columns(pl.lit(None, pl.String).alias(SLICE_KEY),
                                  pl.lit(None, pl.String).alias(SLICE_VALUE))
    return frame.with_columns(pl.lit(expression).alias(SLICE_KEY),
                              slice_value(expression, monitor).alias(SLICE_VALUE))


def sliced(frame: pl.LazyFrame, monitor: Monitor) -> Iterator[tuple[str | None, pl.LazyFrame]]:
    """(slice_key, `slice_of`) for the whole table (key None) and for each slicing
    expression."""
    for expression in (None, *monitor.slicing_exprs):
        yield expression, slice_of(frame, expression, monitor)


def missing_columns(expression: str, columns: Collection[str]) -> list[str]:
    """The columns the slicing expression `expression` names that are not in `columns` (none
    when it is not valid SQL)."""
    try:
        named = pl.sql_expr(expression).meta.root_names()
    except Exception:  # polars raises several error types for bad SQL
        return []
    return sorted(set(named) - set(columns))


def window_struct(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    return pl.struct(start.cast(UTC_TIME).alias("start"), end.cast(UTC_TIME).alias("end"))


def granularity_label(granularity: timedelta) -> str:
    """Databricks' spelling of a granularity: `1 day`, `1 week`, `6 hours`, `30 minutes`."""
    seconds = int(granularity.total_seconds())
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0 and granularity == timedelta(seconds=seconds):
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{granularity.total_seconds():g} seconds"
