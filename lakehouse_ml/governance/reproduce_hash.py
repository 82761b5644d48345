"""A training set's content hash: the same rows and values give the same hash, on any machine
and with any polars or Arrow version (polars' own `hash_rows` changes between versions).

Definition (`TrainingSetDigest.of`), version `DEFINITION`:

1. Each column is brought to its logical type: every integer type as little-endian int64,
   every float as little-endian float64 (-0.0 as 0.0, every NaN as the one quiet NaN),
   booleans as one byte, strings (and categoricals, enums) as UTF-8, dates as int32 days,
   datetimes as int64 microseconds since the epoch in UTC, durations as int64 microseconds,
   anything else (lists, structs, decimals) as its JSON text. A Delta round trip (unsigned to
   signed, string views, time zone names) therefore does not change the hash; a value does.
2. A column's digest is sha256 over its name, its logical type, the row count, the validity
   bytes (1 valid, 0 null) and the values (nulls as zero bytes / empty strings; strings as
   their int64 byte lengths followed by their bytes), the column sorted on its own (nulls
   last): it changes exactly when the column's multiset of values does.
3. The hash is sha256 over `DEFINITION`, the row count, and per column (names in code-point
   order) its name, logical type, validity and values as in 2, all columns taken in one row
   order: the rows sorted by every column (names in code-point order, nulls last). So it does
   not depend on row or column order: it identifies the multiset of rows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

DEFINITION = "lakehouse_ml.training_set_sha256/1"
TAG = "training_set_sha256"
"""MLflow tag (run and registered version) holding `TrainingSetDigest.sha256` of the frame the
version was trained on."""


def _logical(series: pl.Series) -> tuple[str, pl.Series]:
    """(logical type name, the series in its canonical representation)."""
    dtype = series.dtype
    if dtype.is_integer():
        return "int64", series.cast(pl.Int64)
    if dtype.is_float():
        values = pl.lit(series.cast(pl.Float64))
        return "float64", pl.select(pl.when(values == 0.0).then(0.0).otherwise(values)
                                    .alias(series.name)).to_series()
    if dtype == pl.Boolean:
        return "bool", series
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        return "string", series.cast(pl.String)
    if dtype == pl.Date:
        return "date", series
    if isinstance(dtype, pl.Datetime):
        utc = series if dtype.time_zone is None else series.dt.convert_time_zone("UTC")
        return "datetime[us, UTC]", utc.dt.replace_time_zone(None).dt.cast_time_unit("us")
    if isinstance(dtype, pl.Duration):
        return "duration[us]", series.dt.cast_time_unit("us")
    return "json", pl.Series(series.name, [None if v is None else json.dumps(v, default=str)
                                           for v in series.to_list()], pl.String)


def _value_bytes(kind: str, series: pl.Series) -> bytes:
    if kind == "string" or kind == "json":
        text = series.fill_null("")
        lengths = text.str.len_bytes().cast(pl.Int64).to_numpy().astype("<i8")
        return lengths.tobytes() + "".join(text.to_list()).encode()
    if kind == "float64":
        values = series.fill_null(0.0).to_numpy().astype("<f8")
        return np.where(np.isnan(values), np.float64("nan"), values).astype("<f8").tobytes()
    physical = series.to_physical()
    zero = False if kind == "bool" else 0
    width = {"bool": "u1", "date": "<i4"}.get(kind, "<i8")
    return physical.fill_null(zero).to_numpy().astype(width).tobytes()


@dataclass(frozen=True)
class TrainingSetDigest:
    sha256: str
    rows: int
    columns: dict[str, str]
    """Column name → (logical type, sha256 of the column), see the module's definition."""

    @classmethod
    def of(cls, frame: pl.DataFrame) -> TrainingSetDigest:
        """The digest of `frame` (any column order, any row order)."""
        names = sorted(frame.columns)
        kinds = {name: _logical(frame[name]) for name in names}
        canonical = pl.DataFrame([series.alias(name) for name, (_, series) in kinds.items()])
        rows = canonical.sort(names, nulls_last=True) if canonical.height else canonical
        total = hashlib.sha256(f"{DEFINITION}\n{rows.height}\n".encode())
        columns = {}
        for name in names:
            kind = kinds[name][0]
            own = hashlib.sha256()
            _update(own, name, kind, canonical[name].sort(nulls_last=True))
            columns[name] = f"{kind}:{own.hexdigest()}"
            _update(total, name, kind, rows[name])
        return cls(total.hexdigest(), rows.height, columns)


def _update(digest: Any, name: str, kind: str, series: pl.Series) -> None:
    for part in (name.encode(), kind.encode(), str(series.len()).encode(),
                 series.is_not_null().to_numpy().astype("u1").tobytes(),
                 _value_bytes(kind, series)):
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
