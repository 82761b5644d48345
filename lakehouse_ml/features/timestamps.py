"""Timestamps as instants: time-zone aware only, compared in UTC at a common unit.

A naive timestamp has no defined instant, so it is refused rather than guessed.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from lakehouse_ml.features.errors import TimestampError

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
