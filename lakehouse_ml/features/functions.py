"""`FeatureFunction`: an on-demand feature computed from a row's columns.

The same object is evaluated by training sets, batch scoring and online lookups, so a feature
is defined once and cannot drift between training and serving.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from lakehouse_ml.features.errors import FeatureCollisionError, FeatureStoreError

Compute = pl.Expr | Callable[[pl.DataFrame], pl.Series]


@dataclass(frozen=True)
class FeatureFunction:
    """Compute column `output_name` (default `name`) with `fn`.

    `fn` is a polars expression or a function from a frame to a series. `input_bindings` maps
    the column names `fn` uses to the columns of the row (request columns or looked-up
    features); without it `fn` sees the row's columns under their own names.
    """

    name: str
    fn: Compute
    input_bindings: Mapping[str, str] | None = None
    output_name: str | None = None

    @property
    def output(self) -> str:
        return self.output_name or self.name

    def _inputs(self, frame: pl.DataFrame) -> pl.DataFrame:
        if self.input_bindings is None:
            return frame
        missing = [c for c in self.input_bindings.values() if c not in frame.columns]
        if missing:
            raise FeatureStoreError(
                f"feature function {self.name!r}: input column(s) {missing} are not in the "
                f"frame (columns: {frame.columns})"
            )
        return frame.select(pl.col(col).alias(arg) for arg, col in self.input_bindings.items())

    def compute(self, frame: pl.DataFrame) -> pl.Series:
        inputs = self._inputs(frame)
        if isinstance(self.fn, pl.Expr):
            values = inputs.select(self.fn).to_series()
        else:
            values = self.fn(inputs)
        if values.len() != frame.height:
            raise FeatureStoreError(
                f"feature function {self.name!r} returned {values.len()} values "
                f"for {frame.height} rows"
            )
        return values.alias(self.output)


def apply_functions(frame: pl.DataFrame, functions: Sequence[FeatureFunction]) -> pl.DataFrame:
    """Add each function's column in order (a function may use an earlier one's output)."""
    for function in functions:
        if function.output in frame.columns:
            raise FeatureCollisionError(
                f"feature function {function.name!r} outputs column {function.output!r}, "
                "which the frame already has"
            )
        frame = frame.with_columns(function.compute(frame))
    return frame
