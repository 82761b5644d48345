"""Key-type rules, the same offline and online: a key is matched only by a value of its type.

A request column must have the table key's exact dtype (frames), and a Python key value must
be of the key's kind (lists, dicts, serving rows): an integer key takes `int` (never `bool`,
`float` or `str`) within its range, a float key takes `float` (or an `int` it holds exactly),
a string key `str`, a boolean key `bool`. Nothing is coerced: `1.7`, `True` or `"1"` never
find customer 1. A wrong type is a `KeyTypeError` naming the column.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import polars as pl

from lakehouse_ml.features.errors import KeyTypeError

Accepts = Callable[[Any], bool]


def require_key_dtype(
    where: str, column: str, dtype: pl.DataType, key: str, expected: pl.DataType
) -> None:
    """Raise `KeyTypeError` unless request column `column` has the table key's dtype."""
    if dtype != expected:
        raise KeyTypeError(
            f"{where}: lookup key column {column!r} is {dtype} but the table's key {key!r} is "
            f"{expected}; cast {column!r} to {expected}"
        )


def _integer(dtype: pl.DataType) -> Accepts:
    low, high = pl.select(dtype.min().alias("low"), dtype.max().alias("high")).row(0)
    return lambda v: type(v) is int and low <= v <= high


def _float(value: Any) -> bool:
    if type(value) is float:
        return True
    try:
        return type(value) is int and float(value) == value
    except OverflowError:
        return False


@lru_cache(maxsize=64)
def accepts(dtype: pl.DataType) -> Accepts:
    """Whether a non-null Python value is a key of `dtype` (cached: serving calls it per
    request). Serving checks request keys with it too, so both refuse the same values."""
    if dtype.is_integer():
        return _integer(dtype)
    if dtype.is_float():
        return _float
    if isinstance(dtype, pl.String | pl.Categorical | pl.Enum):
        return lambda v: isinstance(v, str)
    if dtype == pl.Boolean:
        return lambda v: isinstance(v, bool)
    if dtype == pl.Date:
        return lambda v: isinstance(v, date) and not isinstance(v, datetime)
    if isinstance(dtype, pl.Datetime):
        aware = dtype.time_zone is not None
        return lambda v: isinstance(v, datetime) and (v.tzinfo is not None) == aware
    return lambda v: pl.Series([v]).dtype == dtype


def _shown(value: Any, limit: int = 64) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def key_frame(columns: Mapping[str, Sequence[Any]], schema: pl.Schema, where: str,
              names: Mapping[str, str] | None = None) -> pl.DataFrame:
    """Key values (column → values) as a frame typed `schema`, its columns renamed by `names`;
    a value not of its key's type is a `KeyTypeError` naming the column and row. Nulls are
    kept (they match no row)."""
    check_keys(columns, schema, where)
    names = names or {}
    return pl.DataFrame({names.get(c, c): columns[c] for c in schema},
                        schema={names.get(c, c): d for c, d in schema.items()})


def check_keys(columns: Mapping[str, Sequence[Any]], schema: pl.Schema, where: str) -> None:
    """Raise `KeyTypeError` naming the column and row of the first value (of the `schema`
    columns) that is not of its key's type; nulls pass."""
    for column, dtype in schema.items():
        accepts_value = accepts(dtype)
        for row, value in enumerate(columns[column]):
            if value is not None and not accepts_value(value):
                raise KeyTypeError(
                    f"{where}: key column {column!r} is {dtype}; got {_shown(value)} "
                    f"({type(value).__name__}) in row {row}"
                )
