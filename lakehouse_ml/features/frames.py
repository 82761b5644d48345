"""Inputs arrive as polars or pandas frames; the engine works on polars only."""

from __future__ import annotations

from typing import Any

import polars as pl

from lakehouse_ml.features.errors import FeatureStoreError


def as_polars(df: Any, what: str) -> pl.DataFrame:
    """A polars DataFrame from a polars DataFrame/LazyFrame or a pandas DataFrame."""
    if isinstance(df, pl.DataFrame):
        return df
    if isinstance(df, pl.LazyFrame):
        return df.collect()
    if type(df).__module__.startswith("pandas"):
        return pl.from_pandas(df)
    raise FeatureStoreError(f"{what} must be a polars or pandas DataFrame, got {type(df)}")


def require_columns(frame: pl.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise FeatureStoreError(f"{what}: column(s) {missing} missing (has {frame.columns})")
