"""Rows as JSON text for key-value stores, exact for every scalar dtype.

Values are encoded from their physical form (floats by their bit pattern, times as integers)
so that NaN, infinities and -0.0 survive, and offline and online values compare equal.
Keys are encoded by the same function on both the writing and the reading side.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from functools import cached_property, lru_cache

import polars as pl

from lakehouse_ml.features.errors import FeatureStoreError

_BITS = {pl.Float64: pl.Int64, pl.Float32: pl.Int32}


def _physical_dtype(column: str, dtype: pl.DataType) -> pl.DataType:
    if type(dtype) in _BITS:
        return _BITS[type(dtype)]()
    if isinstance(dtype, pl.Categorical | pl.Enum):
        return pl.String()
    if dtype.is_temporal():
        return pl.Int32() if dtype == pl.Date else pl.Int64()
    if dtype.is_integer() or isinstance(dtype, pl.Boolean | pl.String | pl.Null):
        return dtype
    raise FeatureStoreError(f"column {column!r} of type {dtype} cannot be stored online")


def _to_physical(column: str, dtype: pl.DataType) -> pl.Expr:
    target = _physical_dtype(column, dtype)
    if type(dtype) in _BITS:
        return pl.col(column).reinterpret(dtype=target)
    return pl.col(column).cast(target) if target != dtype else pl.col(column)


def _to_logical(column: str, dtype: pl.DataType) -> pl.Expr:
    if type(dtype) in _BITS:
        return pl.col(column).reinterpret(dtype=dtype)
    return pl.col(column).cast(dtype)


def encode(frame: pl.DataFrame, columns: list[str]) -> pl.Series:
    """One JSON text per row holding `columns`."""
    physical = [_to_physical(c, frame.schema[c]) for c in columns]
    return frame.select(pl.struct(physical).struct.json_encode()).to_series()


def types_of(schema: pl.Schema) -> tuple[tuple[str, str], ...]:
    return tuple((name, str(dtype)) for name, dtype in schema.items())


@dataclass(frozen=True)
class Snapshot:
    """What an online store holds for one table: its Delta version, keys and row schema."""

    version: int
    keys: list[str]
    schema: pl.Schema
    """All columns, keys first."""

    @cached_property
    def values(self) -> list[str]:
        return [c for c in self.schema if c not in self.keys]

    @cached_property
    def key_schema(self) -> pl.Schema:
        return pl.Schema({c: self.schema[c] for c in self.keys})

    @cached_property
    def key_types(self) -> tuple[tuple[str, str], ...]:
        """The key schema in a form that compares fast (lookups compare it per request)."""
        return types_of(self.key_schema)

    @cached_property
    def value_schema(self) -> pl.Schema:
        return pl.Schema({c: self.schema[c] for c in self.values})

    @cached_property
    def _physical_values(self) -> pl.Struct:
        return pl.Struct({c: _physical_dtype(c, d) for c, d in self.value_schema.items()})

    @cached_property
    def _logical_values(self) -> list[pl.Expr]:
        return [_to_logical(c, d) for c, d in self.value_schema.items()]

    def decode(self, values: list[str | None]) -> pl.DataFrame:
        """Value columns of rows encoded by `encode`; a missing value becomes a row of nulls.
        Its expressions are built once per snapshot: lookups call this on every request."""
        encoded = pl.Series(values, dtype=pl.String)
        return (
            encoded.str.json_decode(self._physical_values).struct.unnest()
            .select(self._logical_values)
        )

    def to_text(self) -> str:
        ipc = io.BytesIO()
        pl.DataFrame(schema=self.schema).write_ipc(ipc)
        schema = base64.b64encode(ipc.getvalue()).decode()
        return json.dumps({"version": self.version, "keys": self.keys, "schema": schema})


@lru_cache(maxsize=256)
def snapshot_from_text(text: str) -> Snapshot:
    """Parsed once per distinct text: readers call this on every lookup."""
    raw = json.loads(text)
    schema = pl.read_ipc(io.BytesIO(base64.b64decode(raw["schema"]))).schema
    return Snapshot(raw["version"], raw["keys"], schema)
