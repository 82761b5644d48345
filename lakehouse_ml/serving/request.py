"""What a request may carry, checked and typed before it reaches a model.

Two kinds of rows are accepted:
- keys only (e.g. `customer_id`): the features are looked up in the online store as of the
  serving time, with the feature functions the model was trained with;
- full feature rows: every model input (key columns may come along; they then route the row
  to champion or challenger like a key-only row, and without them the champion serves it).
Anything else is refused with the problem named: missing or unexpected columns, nulls in key
columns, values of the wrong JSON type, key values the feature store would refuse (the rule
of `lakehouse_ml.features.keys.accepts`: e.g. an integer a Float64 key cannot hold exactly),
NaN or ±Infinity in a feature of a full row (unless every served model allows them there:
`RequestSchema.non_finite`), each naming its row and column.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from math import isfinite
from typing import Any

import polars as pl

from lakehouse_ml.features import keys as key_rules
from lakehouse_ml.serving.payload import Columns, PayloadError, listed, shown


@dataclass(frozen=True)
class Request:
    columns: Columns
    """The request's columns that a model reads, values checked against their types."""
    rows: int
    lookup: bool
    """True: keys only, features come from the online store."""
    at: datetime | None = None
    """When features are looked up as of: None for the time its batch is scored; set for the
    chunks of one request, so that all its rows are looked up as of the same time."""

    def chunks(self, rows: int, at: datetime) -> list[Request]:
        """The request cut in parts of at most `rows` rows, each looked up as of `at`."""
        if self.rows <= rows:
            return [self]
        return [replace(self, columns={n: v[start:start + rows]
                                       for n, v in self.columns.items()},
                        rows=min(rows, self.rows - start), at=at)
                for start in range(0, self.rows, rows)]


def _integer(dtype: pl.DataType) -> Callable[[Any], bool]:
    low, high = pl.select(dtype.min().alias("low"), dtype.max().alias("high")).row(0)
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _number(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _finite(value: Any) -> bool:
    return _number(value) and isfinite(value)


def _accepts(dtype: pl.DataType, finite: bool = False) -> tuple[str, Callable[[Any], bool]]:
    if dtype.is_integer():
        return "integer", _integer(dtype)
    if dtype.is_float():
        return ("finite number", _finite) if finite else ("number", _number)
    if dtype == pl.String:
        return "string", lambda v: isinstance(v, str)
    if dtype == pl.Boolean:
        return "boolean", lambda v: isinstance(v, bool)
    raise ValueError(f"no JSON type for {dtype}")


def _check(name: str, values: list[Any], kind: str, accepts: Callable[[Any], bool],
           nullable: bool) -> None:
    for row, value in enumerate(values):
        if value is None:
            if not nullable:
                raise PayloadError(f"key column {name!r} is null in row {row}")
        elif not accepts(value):
            what = type(value).__name__
            if kind == "number" and what == "int" and _number(value):  # a float key's rule
                what += ", not held exactly by the column's floats"
            elif kind == "finite number" and isinstance(value, float):
                what += ", not finite: send null for a missing value"
            elif kind in ("integer", "number", "finite number") and what == "int":
                what += ", out of the column's range"
            raise PayloadError(
                f"column {name!r} takes {kind} values, got {shown(value)} ({what}) in row {row}"
            )


@dataclass(frozen=True)
class RequestSchema:
    keys: pl.Schema
    features: pl.Schema
    """Every input of every served model: a full row must satisfy each of them."""
    non_finite: frozenset[str] = frozenset()
    """Float features a full row may give as NaN or ±Infinity (every served model allows
    them); any other float feature must be finite."""

    def __post_init__(self) -> None:
        self._checks  # noqa: B018 (a model whose inputs JSON cannot carry fails at load time)

    @cached_property
    def _checks(self) -> dict[str, tuple[str, Callable[[Any], bool]]]:
        checks = {c: _accepts(d, finite=c not in self.non_finite)
                  for c, d in self.features.items()}
        checks |= {c: _accepts(d) for c, d in self.keys.items()}
        for column, dtype in self.keys.items():  # a key must also be one the store accepts
            kind, valid = checks[column]
            key = key_rules.accepts(dtype)
            checks[column] = kind, lambda v, valid=valid, key=key: valid(v) and key(v)
        return checks

    @cached_property
    def width(self) -> int:
        """Columns a row may carry: the keys and every feature."""
        return len(set(self.keys) | set(self.features))

    def parse(self, columns: Columns) -> Request:
        names = set(columns)
        full = set(self.features) <= names
        unexpected = sorted(names - set(self.keys) - set(self.features))
        problems = [f"unexpected column(s) {listed(unexpected)}"] if unexpected else []
        if not full and names & (set(self.features) - set(self.keys)):
            missing = [f for f in self.features if f not in names]
            problems.append(f"rows carry some features but not all (missing {missing})")
        elif not full and not set(self.keys) <= names:
            problems.append(f"missing key column(s) {[k for k in self.keys if k not in names]}")
        if problems:
            raise PayloadError("; ".join(problems) + f": send the key column(s) {list(self.keys)}"
                               " (features are looked up as of now) or every model feature")
        read = [c for c in self._checks if c in names] if full else list(self.keys)
        for name in read:
            _check(name, columns[name], *self._checks[name], nullable=name not in self.keys)
        return Request({n: columns[n] for n in read}, len(columns[read[0]]), lookup=not full)
