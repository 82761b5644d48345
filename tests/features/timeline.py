"""Readable instants and frames for feature-store tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def at(days: float = 0, seconds: float = 0) -> datetime:
    """An instant relative to T0 (UTC)."""
    return T0 + timedelta(days=days, seconds=seconds)


def utc_frame(data: dict) -> pl.DataFrame:
    """A frame whose datetime columns are UTC microseconds (what feature tables store)."""
    return pl.DataFrame(data).with_columns(
        pl.col(pl.Datetime).dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    )
