"""The online-store part of an erasure: the subject's keys deleted from every published
feature table (SQLite files under the root, or Redis).

The keys are read from the offline table before its rows are deleted (`plan`), then deleted
from the store (`erase`) in one publication whose snapshot keeps its Delta version but drops
its publication time: the next publish finds no usable snapshot and rewrites the store whole
from the table as it is then (`features.online.publish`), so it can neither bring the subject
back nor miss a change. A SQLite file is then VACUUMed (its WAL checkpointed first), so no
freed page keeps the deleted rows' bytes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.features.online.codec import Snapshot, encode
from lakehouse_ml.features.online.sqlite_store import SQLiteStore
from lakehouse_ml.features.online.store import OnlineStore
from lakehouse_ml.governance.erasure_match import key_match
from lakehouse_ml.governance.erasure_places import ErasedPlace
from lakehouse_ml.governance.erasure_tables import tables


@dataclass(frozen=True)
class OnlineKeys:
    """The subject's keys (encoded) a published feature table holds online."""

    table: str
    keys: list[str]


def _published(store: OnlineStore, table: str) -> Snapshot | None:
    if isinstance(store, SQLiteStore) and not store.path(table).exists():
        return None  # asking would create the file
    return store.snapshot(table)


def plan(catalog: Catalog, store: OnlineStore,
         keys: Mapping[str, Mapping[str, tuple[pl.DataType, Any]]]) -> list[OnlineKeys]:
    """Per published table keyed by a key column: the subject's keys the store holds."""
    found = []
    for table in tables(catalog):
        short = table.short
        snapshot = _published(store, table.name)
        subject_keys = {c: k for c, k in keys.get(short, {}).items()
                        if snapshot is not None and c in snapshot.keys}
        if snapshot is None or not subject_keys:
            continue
        filters = [key_match(c, d, v) for c, (d, v) in subject_keys.items()]
        rows = (catalog.lake.scan(table.location).filter(pl.any_horizontal(filters))
                .select(snapshot.keys).unique().collect())
        if len(snapshot.keys) == 1:  # the key itself, whatever the table holds now
            column = snapshot.keys[0]
            rows = pl.concat([rows, pl.DataFrame({column: [subject_keys[column][1]]})],
                             how="vertical_relaxed").unique()
        encoded = encode(rows.cast(dict(snapshot.key_schema)), snapshot.keys).to_list()
        held = store.read(table.name, encoded)[1] if encoded else []
        present = [k for k, v in zip(encoded, held, strict=True) if v is not None]
        if present:
            found.append(OnlineKeys(table.name, present))
    return found


def name(store: OnlineStore, table: str) -> str:
    return f"{'sqlite' if isinstance(store, SQLiteStore) else 'redis'}:{table}"


def erase(store: OnlineStore, found: OnlineKeys) -> ErasedPlace:
    """Delete the keys, keep the snapshot's version without its publication time (the next
    publish rewrites the store whole); VACUUM a SQLite file."""
    held = store.snapshot(found.table)
    if held is None:  # unpublished meanwhile: nothing left
        return ErasedPlace("online_store", name(store, found.table), 0)
    unusable = Snapshot(held.version, held.keys, held.schema, held.timeseries, None)
    store.write(found.table, unusable, [], [], found.keys, replace=False)
    written = 0
    if isinstance(store, SQLiteStore):
        store.close()
        path = store.path(found.table)
        connection = sqlite3.connect(path, isolation_level=None)
        try:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.execute("VACUUM")
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()
        written = path.stat().st_size
    return ErasedPlace("online_store", name(store, found.table), len(found.keys), written)
