"""Schema enforcement: incoming frames must match the table, or evolve it explicitly."""

from __future__ import annotations

import polars as pl


class SchemaMismatchError(ValueError):
    """Raised before any byte is written, naming the table and the column."""


_SAFE_WIDENINGS: dict[type[pl.DataType], tuple[type[pl.DataType], ...]] = {
    pl.Int64: (pl.Int8, pl.Int16, pl.Int32, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64),
    pl.Int32: (pl.Int8, pl.Int16, pl.UInt8, pl.UInt16),
    pl.Float64: (pl.Float32, pl.Int8, pl.Int16, pl.Int32, pl.UInt8, pl.UInt16, pl.UInt32),
}


_SIGNED = {pl.UInt8: pl.Int16, pl.UInt16: pl.Int32, pl.UInt32: pl.Int64, pl.UInt64: pl.Int64}


def storable(schema: pl.Schema) -> pl.Schema:
    """Delta has no unsigned integers: store each as the signed type that holds all its values
    (a polars `len()` is UInt32), so later writes of the same frames conform losslessly."""
    return pl.Schema({name: _SIGNED[type(d)]() if type(d) in _SIGNED else d
                      for name, d in schema.items()})


def _castable(source: pl.DataType, target: pl.DataType) -> bool:
    if source == pl.Null():
        return True
    return any(source == wider() for wider in _SAFE_WIDENINGS.get(type(target), ()))


def conform(
    table: str, df: pl.DataFrame, target: pl.Schema, *, evolve: bool = False
) -> pl.DataFrame:
    """Return `df` shaped like `target` (column order, lossless casts, missing columns as null).

    New columns are refused unless `evolve=True`; a type change is always refused.
    """
    extra = [c for c in df.columns if c not in target]
    if extra and not evolve:
        raise SchemaMismatchError(
            f"table {table}: column(s) {extra} are not in the table schema; "
            "pass evolve=True to add them (explicit schema evolution)"
        )
    casts: dict[str, pl.DataType] = {}
    for column, dtype in df.schema.items():
        if column not in target or dtype == target[column]:
            continue
        if not _castable(dtype, target[column]):
            raise SchemaMismatchError(
                f"table {table}: column {column!r} has type {dtype}, "
                f"but the table stores {target[column]}; incompatible type change refused"
            )
        casts[column] = target[column]
    missing = [pl.lit(None, dtype=d).alias(c) for c, d in target.items() if c not in df.columns]
    out = df.cast(casts) if casts else df
    if missing:
        out = out.with_columns(missing)
    return out.select([*target.keys(), *extra])
