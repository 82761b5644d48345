"""Online lookups: the rows of the requested keys, in request order, nulls for unknown keys."""

from __future__ import annotations

from typing import Any

import polars as pl

from lakehouse_ml.features.errors import FeatureStoreError
from lakehouse_ml.features.frames import as_polars, require_columns
from lakehouse_ml.features.online.codec import Snapshot, decode, encode
from lakehouse_ml.features.online.store import OnlineStore


def request_frame(keys: Any, snapshot: Snapshot) -> pl.DataFrame:
    """Keys as a frame typed like the table's keys.

    Accepts a polars/pandas frame with the key columns, a list of dicts, or a list of values
    (tuples for composite keys).
    """
    schema = snapshot.key_schema
    if isinstance(keys, list | tuple):
        if keys and isinstance(keys[0], dict):
            return pl.DataFrame(keys, schema=schema)
        rows = [k if isinstance(k, tuple) else (k,) for k in keys]
        return pl.DataFrame(rows, schema=schema, orient="row")
    frame = as_polars(keys, "keys")
    require_columns(frame, snapshot.keys, "online lookup keys")
    return frame.select(pl.col(c).cast(d) for c, d in schema.items())


class OnlineReader:
    """Reads one store; remembers each table's snapshot so a lookup is a single store read."""

    def __init__(self, store: OnlineStore) -> None:
        self.store = store
        self._known: dict[str, Snapshot] = {}

    def rows(self, table: str, keys: Any) -> pl.DataFrame:
        snapshot = self._known.get(table)
        if snapshot is None:
            snapshot = self._known[table] = self._published(table)
        while True:
            request = request_frame(keys, snapshot)
            current, values = self.store.read(table, encode(request, snapshot.keys).to_list())
            if current == snapshot:
                return request.hstack(decode(values, snapshot.value_schema))
            snapshot = self._published(table) if current is None else current
            self._known[table] = snapshot

    def _published(self, table: str) -> Snapshot:
        snapshot = self.store.snapshot(table)
        if snapshot is None:
            raise FeatureStoreError(f"feature table {table} is not published online")
        return snapshot
