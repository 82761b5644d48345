"""What a request may carry, checked and typed before it reaches a model.

Two kinds of rows are accepted:
- keys only (e.g. `customer_id`): the features are looked up in the online store as of the
  serving time, with the feature functions the model was trained with;
- full feature rows: every model input (key columns may come along; they then route the row
  to champion or challenger like a key-only row, and without them the champion serves it).
Anything else is refused with the problem named: missing or unexpected columns, nulls in key
columns, values of the wrong JSON type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from lakehouse_ml.serving.payload import Columns, PayloadError


@dataclass(frozen=True)
class Request:
    frame: pl.DataFrame
    lookup: bool
    """True: keys only, features come from the online store."""


def _accepts(dtype: pl.DataType) -> tuple[str, Callable[[Any], bool]]:
    if dtype.is_integer():
        return "integer", lambda v: isinstance(v, int) and not isinstance(v, bool)
    if dtype.is_float():
        return "number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)
    if dtype == pl.String:
        return "string", lambda v: isinstance(v, str)
    if dtype == pl.Boolean:
        return "boolean", lambda v: isinstance(v, bool)
    raise ValueError(f"no JSON type for {dtype}")


def _check(name: str, values: list[Any], dtype: pl.DataType, nullable: bool) -> None:
    kind, accepts = _accepts(dtype)
    for row, value in enumerate(values):
        if value is None:
            if not nullable:
                raise PayloadError(f"key column {name!r} is null in row {row}")
        elif not accepts(value):
            raise PayloadError(
                f"column {name!r} takes {kind} values, got {value!r} "
                f"({type(value).__name__}) in row {row}"
            )


@dataclass(frozen=True)
class RequestSchema:
    keys: pl.Schema
    features: pl.Schema
    """Every input of every served model: a full row must satisfy each of them."""

    def __post_init__(self) -> None:
        for dtype in [*self.keys.values(), *self.features.values()]:
            _accepts(dtype)  # refuse a model whose inputs JSON cannot carry, at load time

    def parse(self, columns: Columns) -> Request:
        names = set(columns)
        full = set(self.features) <= names
        unexpected = sorted(names - set(self.keys) - set(self.features))
        problems = [f"unexpected column(s) {unexpected}"] if unexpected else []
        if not full and names & (set(self.features) - set(self.keys)):
            missing = [f for f in self.features if f not in names]
            problems.append(f"rows carry some features but not all (missing {missing})")
        elif not full and not set(self.keys) <= names:
            problems.append(f"missing key column(s) {[k for k in self.keys if k not in names]}")
        if problems:
            raise PayloadError("; ".join(problems) + f": send the key column(s) {list(self.keys)}"
                               " (features are looked up as of now) or every model feature")
        if full:
            schema = {c: d for c, d in {**self.keys, **self.features}.items() if c in names}
            return Request(self._frame(columns, schema), lookup=False)
        return Request(self._frame(columns, dict(self.keys)), lookup=True)

    def _frame(self, columns: Columns, schema: dict[str, pl.DataType]) -> pl.DataFrame:
        for name, dtype in schema.items():
            _check(name, columns[name], dtype, nullable=name not in self.keys)
        try:
            return pl.DataFrame({c: columns[c] for c in schema}, schema=schema)
        except (TypeError, OverflowError, pl.exceptions.PolarsError) as error:
            raise PayloadError(f"values do not fit the column types {schema}: {error}") from None
