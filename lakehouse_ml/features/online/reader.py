"""Online lookups: the rows of the requested keys, in request order, nulls for unknown keys."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any, TypeVar

import polars as pl

from lakehouse_ml.features.errors import FeatureStoreError
from lakehouse_ml.features.frames import as_polars, require_columns
from lakehouse_ml.features.keys import key_frame, require_key_dtype
from lakehouse_ml.features.online.codec import Snapshot, encode, types_of
from lakehouse_ml.features.online.store import OnlineStore

Prepared = TypeVar("Prepared")


def request_frame(keys: Any, snapshot: Snapshot, table: str) -> pl.DataFrame:
    """Keys as a frame typed like the table's keys, by the rules of `features.keys`.

    Accepts a polars/pandas frame whose key columns have the keys' dtypes, a list of dicts,
    or a list of values (tuples for composite keys). Raises `KeyTypeError` for a key of
    another type, `FeatureStoreError` for a missing key or a tuple of the wrong length.
    """
    schema, where = snapshot.key_schema, f"online lookup on {table}"
    if isinstance(keys, list | tuple):
        if keys and isinstance(keys[0], dict):
            absent = [c for c in schema if any(c not in row for row in keys)]
            if absent:
                raise FeatureStoreError(f"{where}: key(s) {absent} missing from a key row")
            return key_frame({c: [row[c] for row in keys] for c in schema}, schema, where)
        rows = [k if isinstance(k, tuple) else (k,) for k in keys]
        wrong = next((r for r in rows if len(r) != len(schema)), None)
        if wrong is not None:
            raise FeatureStoreError(
                f"{where}: key {wrong!r} has {len(wrong)} value(s) for the keys {snapshot.keys}"
            )
        columns = {c: [r[i] for r in rows] for i, c in enumerate(schema)}
        return key_frame(columns, schema, where)
    frame = as_polars(keys, "keys")
    require_columns(frame, snapshot.keys, "online lookup keys")
    for column, dtype in schema.items():
        require_key_dtype(where, column, frame.schema[column], column, dtype)
    return frame.select(schema.names())


class KeyBatch:
    """Request keys, named and typed like a table's keys, encoded once for every table that
    shares those keys (the tables of one entity usually do)."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.__dict__["frame"] = frame

    @classmethod
    def of_values(cls, columns: Mapping[str, Sequence[Any]], schema: pl.Schema) -> KeyBatch:
        """Keys as Python values already checked against `schema` (the rules of
        `features.keys`), named and typed like the table's keys. Integer and boolean keys are
        encoded in Python, as `encode` writes them, and the frame is built only if a reader
        needs it (a few rows: building and encoding a frame costs ~0.25 ms); other types
        through the frame."""
        batch = cls.__new__(cls)
        batch.__dict__["_build"] = lambda: pl.DataFrame(columns, schema=schema)
        batch.__dict__["types"] = types_of(schema)
        if all(_plain_key(c, d) for c, d in schema.items()):
            values = [[_json_scalar(v) for v in columns[c]] for c in schema]
            heads = [f'"{c}":' for c in schema]
            batch.__dict__["encoded"] = [
                "{" + ",".join(h + v for h, v in zip(heads, row, strict=True)) + "}"
                for row in zip(*values, strict=True)]
        return batch

    @cached_property
    def frame(self) -> pl.DataFrame:
        return self._build()  # type: ignore[attr-defined]  # set by `of_values`

    @cached_property
    def types(self) -> tuple[tuple[str, str], ...]:
        return types_of(self.frame.schema)

    @cached_property
    def encoded(self) -> list[str]:
        return encode(self.frame, self.frame.columns).to_list() if self.frame.height else []

    @cached_property
    def distinct(self) -> list[str]:
        return list(dict.fromkeys(self.encoded))

    def in_order(self, found: list[str | None]) -> list[str | None]:
        """Values read for `distinct`, one per request row."""
        by_key = dict(zip(self.distinct, found, strict=True))
        return [by_key[k] for k in self.encoded]


def _plain_key(column: str, dtype: pl.DataType) -> bool:
    """Whether `KeyBatch.of_values` encodes the key column in Python."""
    return (column.isascii() and column.isidentifier()
            and (dtype.is_integer() or dtype == pl.Boolean))


def _json_scalar(value: int | bool | None) -> str:
    return "null" if value is None else ("true" if value else "false") if type(
        value) is bool else str(value)


class OnlineReader:
    """Reads one store; remembers each table's snapshot so a lookup is a single store read."""

    def __init__(self, store: OnlineStore) -> None:
        self.store = store
        self._known: dict[str, Snapshot] = {}

    def snapshot(self, table: str) -> Snapshot:
        """The snapshot last seen (the store is asked only the first time)."""
        snapshot = self._known.get(table)
        if snapshot is None:
            snapshot = self.store.snapshot(table)
            if snapshot is None:
                raise FeatureStoreError(f"feature table {table} is not published online")
            self._known[table] = snapshot
        return snapshot

    def read(self, table: str, keys: KeyBatch) -> tuple[Snapshot, list[str | None]]:
        """The published row of each key row (encoded, None for an unknown key), in order, and
        the snapshot they were read from (the store's current one, maybe newer than
        `snapshot` said)."""
        snapshot = self.snapshot(table)
        while True:
            if keys.types != snapshot.key_types:
                keys = KeyBatch(request_frame(keys.frame, snapshot, table))
            current, values = self.store.read(table, keys.distinct)
            if current is None:
                del self._known[table]
                raise FeatureStoreError(f"feature table {table} is not published online")
            if current.published_at is None:
                raise FeatureStoreError(
                    f"feature table {table} was published online by an older lakehouse_ml "
                    "that kept one row per key; publish it again"
                )
            self._known[table] = current
            if current.key_types == snapshot.key_types:
                return current, keys.in_order(values)
            snapshot = current  # keys changed type or name: encode them again

    def read_versioned(
        self, table: str, prepare: Callable[[int], Prepared], keys: Callable[[Prepared], KeyBatch]
    ) -> tuple[Prepared, Snapshot, list[str | None]]:
        """`read` for callers that derive something from the table version first (a lookup
        checked against that version's schema): `prepare(version)` for the version last seen,
        then the rows of `keys(prepared)`; if the table was published again meanwhile, it is
        prepared again for the version the rows were read at."""
        version = self.snapshot(table).version
        while True:
            prepared = prepare(version)
            snapshot, found = self.read(table, keys(prepared))
            if snapshot.version == version:
                return prepared, snapshot, found
            version = snapshot.version

    def rows(self, table: str, keys: Any, at: datetime) -> pl.DataFrame:
        """Each key's row as of `at`, after the keys, in order (nulls for none)."""
        batch = KeyBatch(request_frame(keys, self.snapshot(table), table))
        snapshot, values = self.read(table, batch)
        found = snapshot.decode(values, at)
        return request_frame(batch.frame, snapshot, table).hstack(found)
