"""Calendar days in a time zone: the day an event time falls on, and the instants days span.

Day D in zone Z holds the instants in [D 00:00, D+1 00:00) local time in Z: 24 hours, or 23 or
25 on a daylight-saving change. Event times are time-zone-aware datetimes (stored in UTC) or
dates.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl
from polars.exceptions import ComputeError


def validate_time_zone(name: str, owner: str) -> None:
    """Raise ValueError naming `owner` (e.g. "aggregate 'sales'") unless `name` is an IANA time
    zone (e.g. "America/New_York") known to both polars and Python; the polars error chained
    to it suggests a close name."""
    if name == "UTC":  # known to both; asking polars starts its thread pool, and domains
        return  # declare aggregates at import (a process forked after that cannot use polars)
    try:
        pl.lit(datetime(2000, 1, 1, tzinfo=UTC)).dt.convert_time_zone(name)
        ZoneInfo(name)
    except (ComputeError, ZoneInfoNotFoundError, ValueError, TypeError) as error:
        raise ValueError(f"{owner}: time_zone {name!r} is not an IANA time zone name such as "
                         "'UTC' or 'America/New_York'") from error


def day_of(column: str, dtype: pl.DataType, time_zone: str) -> pl.Expr:
    """The day in `time_zone` of each value of `column` of type `dtype`: a time-zone-aware
    datetime's local date; a date is its own day in every zone."""
    if dtype == pl.Date:
        return pl.col(column)
    return pl.col(column).dt.convert_time_zone(time_zone).dt.date()


def on_days(column: str, dtype: pl.DataType, days: Sequence[date], time_zone: str) -> list[pl.Expr]:
    """Filters that keep the values of `column` falling on `days` in `time_zone`: a range that
    lets a Delta scan skip files, then the exact day test. `days` must not be empty."""
    if dtype == pl.Date:
        start, end = min(days), max(days) + timedelta(days=1)
    else:
        start, end = span(days, time_zone)
    value = pl.col(column)
    return [value >= start, value < end, day_of(column, dtype, time_zone).is_in(days)]


def span(days: Sequence[date], time_zone: str) -> tuple[datetime, datetime]:
    """UTC instants [start, end) that cover the local days min(days) .. max(days) whole.

    A local midnight skipped or repeated by a clock change maps to two instants; the span takes
    the earlier start and the later end, so it never cuts a day short. `days` must not be empty.
    """
    zone = ZoneInfo(time_zone)

    def midnights(day: date) -> list[datetime]:
        local = datetime.combine(day, time(), zone)
        return [local.astimezone(UTC), local.replace(fold=1).astimezone(UTC)]

    return min(midnights(min(days))), max(midnights(max(days) + timedelta(days=1)))
