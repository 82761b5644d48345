"""Per-feature statistics of snapshot rows, accumulated chunk by chunk in constant memory."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl


class FeatureStatistics:
    """Null share, mean, min and max per feature over every frame `add`ed, without keeping the
    frames: each `add` folds a frame into running counts, sums and extremes."""

    def __init__(self, features: Sequence[str]) -> None:
        self.features = list(features)
        self.rows = 0
        self._dtypes: dict[str, pl.DataType] = {}
        self._nulls = dict.fromkeys(self.features, 0)
        self._sums: dict[str, float] = dict.fromkeys(self.features, 0.0)
        self._mins: dict[str, Any] = dict.fromkeys(self.features)
        self._maxs: dict[str, Any] = dict.fromkeys(self.features)

    def add(self, frame: pl.DataFrame) -> None:
        """Fold in `frame`, which holds every feature column."""
        self.rows += frame.height
        for name in self.features:
            column = frame[name]
            self._dtypes.setdefault(name, column.dtype)
            self._nulls[name] += column.null_count()
            if column.dtype.is_numeric() and column.len():
                self._sums[name] += float(column.sum())
            for extremes, value, pick in ((self._mins, column.min(), min),
                                          (self._maxs, column.max(), max)):
                if value is not None:
                    old = extremes[name]
                    extremes[name] = value if old is None else pick(old, value)

    def table(self) -> pl.DataFrame:
        """One row per feature: `feature`, `dtype`, `null_fraction` (4 decimals), `mean` (4
        decimals, numeric features with values only), `min`, `max` (as text; null without
        values)."""
        rows = []
        for name in self.features:
            dtype = self._dtypes.get(name)
            values = self.rows - self._nulls[name]
            numeric = dtype is not None and dtype.is_numeric() and values > 0
            rows.append({
                "feature": name, "dtype": str(dtype),
                "null_fraction": round(self._nulls[name] / max(self.rows, 1), 4),
                "mean": round(self._sums[name] / values, 4) if numeric else None,
                "min": None if self._mins[name] is None else str(self._mins[name]),
                "max": None if self._maxs[name] is None else str(self._maxs[name]),
            })
        return pl.DataFrame(rows, schema={"feature": pl.String, "dtype": pl.String,
                                          "null_fraction": pl.Float64, "mean": pl.Float64,
                                          "min": pl.String, "max": pl.String})
