"""Timestamps as instants: time-zone aware only, compared in UTC at a common unit; and the
stamps of daily snapshots (the end of the day before, in the feature table's time zone).

A naive timestamp has no defined instant, so it is refused rather than guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import polars as pl

from lakehouse_ml.features.errors import TimestampError
from lakehouse_ml.medallion.days import span

STORED = pl.Datetime("us", "UTC")
"""How feature tables store time: Delta's `timestamp` type is microseconds since epoch, UTC."""

_FINENESS = {"ms": 0, "us": 1, "ns": 2}


def require_aware(schema: pl.Schema, column: str, where: str) -> pl.Datetime:
    """The column's dtype, if it is a time-zone aware datetime; a clear error otherwise."""
    if column not in schema:
        raise TimestampError(f"{where}: timestamp column {column!r} is missing")
    dtype = schema[column]
    if not isinstance(dtype, pl.Datetime) or dtype.time_zone is None:
        raise TimestampError(
            f"{where}: timestamp column {column!r} has type {dtype}; a time-zone aware "
            "datetime is required (e.g. .dt.replace_time_zone('UTC') if the values are UTC)"
        )
    return dtype


def finer(a: pl.Datetime, b: pl.Datetime) -> str:
    """The finer of two time units, so that converting to it loses nothing."""
    return max(a.time_unit, b.time_unit, key=_FINENESS.__getitem__)


def utc(column: str, unit: str) -> pl.Expr:
    """The column as a UTC instant at `unit` (same name)."""
    return pl.col(column).dt.convert_time_zone("UTC").dt.cast_time_unit(unit)


def utc_instant(value: datetime, where: str) -> datetime:
    """An aware datetime as the same instant in UTC; TimestampError if it is naive."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise TimestampError(f"{where}: {value.isoformat()} has no time zone; give an aware "
                             "datetime (e.g. datetime(..., tzinfo=UTC))")
    return value.astimezone(UTC)


def snapshot_time(day: date, time_zone: str = "UTC") -> datetime:
    """The stamp of day `day`'s snapshot: `day` 00:00 in `time_zone` (an IANA name), i.e. the
    end of local day `day` - 1, as a UTC instant (2026-11-30 in America/New_York:
    2026-11-30T05:00Z). A midnight that a clock change skips or repeats: the later instant,
    so the stamp is never before the end of the day before."""
    return span([day - timedelta(days=1)], time_zone)[1]


def snapshot_stamps(day: str | pl.Expr, days: Sequence[date], time_zone: str = "UTC"
                    ) -> pl.Expr:
    """Expression for a snapshot builder: each value of the `pl.Date` column `day` that is
    one of `days` → its snapshot's stamp (`snapshot_time`), as `STORED` (UTC microseconds);
    any other day → null, which the engine refuses to write (naming the table)."""
    column = pl.col(day) if isinstance(day, str) else day
    stamps = pl.Series([snapshot_time(d, time_zone) for d in days], dtype=STORED)
    return column.replace_strict(pl.Series(list(days), dtype=pl.Date), stamps, default=None,
                                 return_dtype=STORED)
