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


def _untyped(dtype: pl.DataType) -> bool:
    """True if `dtype` is polars `Null` or nests it (`List(Null)`, a struct field of `Null`)."""
    if dtype == pl.Null():
        return True
    if isinstance(dtype, pl.List | pl.Array):
        return _untyped(dtype.inner)
    if isinstance(dtype, pl.Struct):
        return any(_untyped(f.dtype) for f in dtype.fields)
    return False


def require_typed(table: str, schema: pl.Schema, columns: list[str] | None = None) -> None:
    """Refuse a new column without a type: Delta would store an all-null (polars `Null`)
    column as `void`, which no later write with values can fill.

    Raises `SchemaMismatchError` naming the table and the column(s).
    """
    untyped = [c for c in (schema.names() if columns is None else columns)
               if _untyped(schema[c])]
    if untyped:
        raise SchemaMismatchError(
            f"table {table}: new column(s) {untyped} have no type (every value is null, polars "
            f"type {schema[untyped[0]]}); cast them to the type they will hold, e.g. "
            f"pl.col({untyped[0]!r}).cast(pl.Float64)"
        )


def _stored(dtype: pl.DataType) -> pl.DataType:
    if type(dtype) in _SIGNED:
        return _SIGNED[type(dtype)]()
    if isinstance(dtype, pl.Datetime):
        return pl.Datetime("us", "UTC" if dtype.time_zone else None)
    return dtype


def storable(table: str, schema: pl.Schema) -> pl.Schema:
    """The schema Delta stores for `schema`, so that later writes of the same frames conform:
    unsigned integers as the signed type that holds all their values (a polars `len()` is
    UInt32); datetimes at microseconds (Delta's unit), time-zone aware ones in UTC.

    Raises `SchemaMismatchError` for a column without a type (see `require_typed`).
    """
    require_typed(table, schema)
    return pl.Schema({name: _stored(d) for name, d in schema.items()})


def _castable(source: pl.DataType, target: pl.DataType) -> bool:
    if source == pl.Null():
        return True
    if isinstance(source, pl.Datetime) and isinstance(target, pl.Datetime):
        # the same instants in the stored unit and zone; naive and aware never mix
        return (source.time_zone is None) == (target.time_zone is None)
    return any(source == wider() for wider in _SAFE_WIDENINGS.get(type(target), ()))


def conform(
    table: str, df: pl.DataFrame, target: pl.Schema, *, evolve: bool = False
) -> pl.DataFrame:
    """Return `df` shaped like `target` (column order, lossless casts, missing columns as null).

    Datetimes are converted to the stored unit and time zone (same instants; digits finer
    than the stored unit, i.e. below a microsecond, are dropped). New columns are refused
    unless `evolve=True`, and even then when they have no type (all-null `Null` columns);
    a type change is always refused.
    """
    extra = [c for c in df.columns if c not in target]
    if extra and not evolve:
        raise SchemaMismatchError(
            f"table {table}: column(s) {extra} are not in the table schema; "
            "pass evolve=True to add them (explicit schema evolution)"
        )
    require_typed(table, df.schema, extra)
    casts: dict[str, pl.DataType] = {}
    for column, dtype in df.schema.items():
        if column not in target:
            if _stored(dtype) != dtype:
                casts[column] = _stored(dtype)
            continue
        if dtype == target[column]:
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
