"""Online features row by row, for the few rows a serving request carries.

`FeatureEngineeringClient.lookup_online` works on polars frames: right for many rows, but on a
handful polars spends 5-20 µs per column and operation, milliseconds for a model with a
hundred features. `RowLookup` reads the same online rows (one store read per table) and applies
the same rules in plain Python to only the columns a model needs: of a key's published rows the
latest stamped at or before the request time, null if there is none or it is older than the
lookback window, then the defaults; feature functions run on a frame of just their inputs
(a polars expression's outputs are remembered by their input values, see `_Remembered`). Keys
are checked and encoded without a frame (`KeyBatch.of_values`).
`tests/features/test_row_lookup.py` holds it equal to `lookup_online`.

Values come back as `lookup_online(...).to_dict(as_series=False)` would give them. Only
columns of types a row carries as plain Python values (integers, floats, booleans, strings)
can be needed: for any other, building a `RowLookup` raises `RowLookupUnsupported`.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import polars as pl

from lakehouse_ml.features.functions import FeatureFunction
from lakehouse_ml.features.keys import check_keys
from lakehouse_ml.features.lookup import FeatureLookup, time_columns
from lakehouse_ml.features.online import KeyBatch, OnlineReader
from lakehouse_ml.features.online.codec import types_of
from lakehouse_ml.features.pit import ResolvedLookup, resolve
from lakehouse_ml.features.table import FeatureTable
from lakehouse_ml.features.timestamps import STORED
from lakehouse_ml.features.training_set import output_columns

Columns = dict[str, list[Any]]
"""Column name → values, one per row (what serving passes around instead of frames)."""

Unmatched = list[list[str]]
"""Per row, the feature tables whose lookup found no row for its key (empty if all did)."""

Step = FeatureLookup | FeatureFunction
Convert = Callable[[Any], Any]
"""A stored (physical) JSON value → the value polars' `to_list` gives for the column."""

MEMO_ROWS = 65_536
"""Input rows whose feature-function outputs a `RowLookup` remembers, per function."""
_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RowLookupUnsupported(ValueError):
    """A needed column has a type rows do not carry as a plain value; use `lookup_online`."""


def _float64(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<q", bits))[0]


def _float32(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<i", bits))[0]


def _converter(dtype: pl.DataType) -> Convert | None:
    """How a stored value of `dtype` becomes a Python value, or None if rows cannot carry it."""
    if dtype == pl.Float64:
        return _float64
    if dtype == pl.Float32:
        return _float32
    if (dtype.is_integer() or isinstance(dtype, pl.Boolean | pl.String | pl.Categorical
                                         | pl.Enum)):
        return lambda value: value
    return None


def _widened(convert: Convert, stored: pl.DataType, widened: pl.DataType) -> Convert:
    return lambda value: pl.Series([convert(value)], dtype=stored).cast(widened)[0]


def _nanoseconds(span: timedelta) -> int:
    return span // timedelta(microseconds=1) * 1_000


@dataclass(frozen=True)
class _Field:
    stored: str
    output: str
    dtype: pl.DataType
    """The output's type (a default may widen the stored one, as `fill_null` does)."""
    convert: Convert
    default: Any


@dataclass(frozen=True)
class _TableRows:
    """One lookup compiled against one published version of its table."""

    mapping: tuple[tuple[str, str], ...]
    """(request column, table key) pairs."""
    fields: list[_Field]
    stamp: tuple[str, int] | None
    """The timeseries column and nanoseconds per unit, if the lookup is point in time."""
    window: int | None
    """The lookback window in nanoseconds."""

    @classmethod
    def of(cls, resolved: ResolvedLookup, wanted: Collection[str]) -> _TableRows:
        lookup, table = resolved.lookup, resolved.table
        defaults = lookup.default_values or {}
        fields = []
        for feature in resolved.features:
            output = lookup.output_name(feature)
            if output not in wanted:
                continue
            dtype = table.schema[feature]
            convert = _converter(dtype)
            if convert is None:
                raise RowLookupUnsupported(f"{output} ({dtype}) of {table.name}")
            default, filled = None, dtype
            if defaults.get(feature) is not None:  # as `fill_null` fills, maybe widening
                series = pl.Series([None], dtype=dtype).fill_null(defaults[feature])
                default, filled = series[0], series.dtype
            if filled != dtype:
                convert = _widened(convert, dtype, filled)
            fields.append(_Field(feature, output, filled, convert, default))
        ts = table.timeseries_column
        timed = lookup.timestamp_lookup_key is not None and ts is not None
        window = lookup.lookback_window
        return cls(
            tuple(zip(lookup.lookup_keys, table.entity_keys, strict=True)), fields,
            (ts, _NS[table.schema[ts].time_unit]) if timed else None,
            None if window is None or not timed else _nanoseconds(window),
        )

    def _row(self, text: str | None, at: int) -> dict[str, Any] | None:
        """Of a key's stored rows (oldest first), the one the lookup at `at` matches."""
        if text is None:
            return None
        rows = json.loads(text)
        if self.stamp is None:
            return rows[-1] if rows else None
        column, unit = self.stamp
        for row in reversed(rows):
            stamp = row[column] * unit
            if stamp <= at:
                return row if self.window is None or at - stamp <= self.window else None
        return None

    def add(self, out: Columns, found: list[str | None], at: int) -> list[bool]:
        """Set the lookup's wanted columns for rows whose stored rows are `found`; per row,
        whether the lookup matched a feature row (else its values are the defaults)."""
        rows = [self._row(text, at) for text in found]
        for field in self.fields:
            values = out[field.output] = []
            for row in rows:
                value = None if row is None else row[field.stored]
                if value is not None:
                    value = field.convert(value)
                values.append(field.default if value is None else value)
        return [row is not None for row in rows]


class _Remembered:
    """A feature function's outputs by their rows' input values: a row's output is computed
    (with polars, ~0.4 ms a call) once and then found in a dict. Remembered only for polars
    expressions, which are pure; at most `MEMO_ROWS` input rows, then it starts over.

    It takes the function to be row by row (an output depends on its own row's inputs), as
    serving does already: the rows of requests that arrive together are looked up together,
    so a function looking across rows would score a request by its neighbours."""

    def __init__(self, function: FeatureFunction, inputs: pl.Schema) -> None:
        self._function, self._inputs = function, inputs
        self._floats = [i for i, d in enumerate(inputs.values()) if d.is_float()]
        self._outputs: dict[tuple[Any, ...], Any] = {}
        self._dtype: pl.DataType | None = None

    def _key(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        """`row`, with -0.0 told from 0.0 (equal, and equal hashes, as dict keys)."""
        if not self._floats:
            return row
        return (*row, *(None if row[i] is None else math.copysign(1.0, row[i])
                        for i in self._floats))

    def __call__(self, columns: list[list[Any]]) -> tuple[list[Any], pl.DataType]:
        """The output of each row of `columns` (the inputs' values) and its dtype."""
        rows = [self._key(r) for r in zip(*columns, strict=True)]
        missing = list(dict.fromkeys(r for r in rows if r not in self._outputs))
        if missing or self._dtype is None:
            width = len(self._inputs)
            values = self._function.compute(pl.DataFrame(
                [r[:width] for r in missing], schema=self._inputs, orient="row"))
            if len(self._outputs) + len(missing) > MEMO_ROWS:
                self._outputs.clear()
            self._outputs.update(zip(missing, values.to_list(), strict=True))
            self._dtype = values.dtype
        return [self._outputs[r] for r in rows], self._dtype


def _inputs(function: FeatureFunction, known: Collection[str]) -> list[str] | None:
    """The columns a function reads, or None if it may read any."""
    if function.input_bindings is not None:
        return list(function.input_bindings.values())
    if isinstance(function.fn, pl.Expr):
        names = function.fn.meta.root_names()
        if names and all(n in known for n in names):
            return list(dict.fromkeys(names))
    return None


class RowLookup:
    """`lookup_online` for `steps`, returning only the `needed` columns, for rows that carry
    only keys (typed as `keys`) and are looked up as of the time they are served."""

    def __init__(
        self, reader: OnlineReader, table_at: Callable[[str, int], FeatureTable],
        qualify: Callable[[str], str], steps: Sequence[Step], keys: pl.Schema,
        needed: Collection[str],
    ) -> None:
        self._reader, self._table_at, self._keys = reader, table_at, keys
        self._lookups = [(qualify(s.table_name), s) for s in steps
                         if isinstance(s, FeatureLookup)]
        self._schema = pl.Schema({**keys, **dict.fromkeys(time_columns(steps), STORED)})
        resolved = [self._resolve(name, step, reader.snapshot(name).version)
                    for name, step in self._lookups]
        output_columns(pl.DataFrame(schema=self._schema), resolved, steps)
        self._needed = list(needed)
        self._functions, wanted = _required(
            [s for s in steps if isinstance(s, FeatureFunction)], self._needed,
            [*self._schema, *(o for r in resolved for o in r.outputs)],
        )
        self._wanted = wanted
        self._compiled: dict[tuple[str, int, int], _TableRows] = {}
        self._memos: dict[tuple[int, tuple[tuple[str, str], ...]], _Remembered] = {}
        for (name, step), lookup in zip(self._lookups, resolved, strict=True):
            self._table_rows(name, step, lookup.table.version)  # unsupported types fail now

    def _resolve(self, name: str, step: FeatureLookup, version: int) -> ResolvedLookup:
        return resolve(step, self._table_at(name, version), self._schema)

    def _table_rows(self, name: str, step: FeatureLookup, version: int) -> _TableRows:
        key = (name, version, id(step))
        if key not in self._compiled:
            self._compiled[key] = _TableRows.of(self._resolve(name, step, version),
                                                self._wanted)
        return self._compiled[key]

    def __call__(self, keys: Columns, at: datetime) -> Columns:
        """The needed columns for rows with key columns `keys`, as of `at`."""
        return self.with_unmatched(keys, at)[0]

    def with_unmatched(self, keys: Columns, at: datetime) -> tuple[Columns, Unmatched]:
        """The needed columns for rows with key columns `keys`, as of `at`, and per row the
        tables (as the lookups name them) whose lookup found no feature row for its key:
        none published, or none stamped at or before `at` within the lookback window. From
        the same single read of each table."""
        out: Columns = dict(keys)
        height = len(next(iter(keys.values())))
        unmatched: Unmatched = [[] for _ in range(height)]
        dtypes: dict[str, pl.DataType] = dict(self._schema)
        batches: dict[tuple[tuple[str, str], ...], KeyBatch] = {}
        now = _nanoseconds(at - _EPOCH)

        def batch(rows: _TableRows) -> KeyBatch:
            if rows.mapping not in batches:
                check_keys(keys, pl.Schema({c: self._keys[c] for c, _ in rows.mapping}),
                           "online lookup")
                batches[rows.mapping] = KeyBatch.of_values(
                    {k: keys[c] for c, k in rows.mapping},
                    pl.Schema({k: self._keys[c] for c, k in rows.mapping}))
            return batches[rows.mapping]

        for name, step in self._lookups:
            rows, _, found = self._reader.read_versioned(
                name, partial(self._table_rows, name, step), batch)
            for missing, matched in zip(unmatched, rows.add(out, found, now), strict=True):
                if not matched:
                    missing.append(step.table_name)
            dtypes |= {f.output: f.dtype for f in rows.fields}
        if self._functions:
            out |= {t: [at] * height for t in self._schema if t not in self._keys}
            for function in self._functions:
                inputs = _inputs(function, dtypes) or [c for c in out if c in dtypes]
                typed = pl.Schema({c: dtypes[c] for c in inputs})
                if isinstance(function.fn, pl.Expr):
                    memo_key = (id(function), types_of(typed))
                    if memo_key not in self._memos:
                        self._memos[memo_key] = _Remembered(function, typed)
                    values, dtype = self._memos[memo_key]([out[c] for c in inputs])
                else:
                    series = function.compute(pl.DataFrame({c: out[c] for c in inputs},
                                                           schema=typed))
                    values, dtype = series.to_list(), series.dtype
                out[function.output], dtypes[function.output] = values, dtype
        return {c: out[c] for c in self._needed}, unmatched


def _required(
    functions: list[FeatureFunction], needed: list[str], columns: list[str]
) -> tuple[list[FeatureFunction], set[str]]:
    """The functions `needed` requires (in order) and every column it requires, directly or
    through them. A function whose inputs cannot be told requires every column."""
    known = [*columns, *(f.output for f in functions)]
    wanted, run = set(needed), []
    for function in reversed(functions):
        if function.output in wanted:
            run.append(function)
            inputs = _inputs(function, known)
            wanted |= set(known if inputs is None else inputs)
    return run[::-1], wanted
