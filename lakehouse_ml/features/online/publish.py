"""Publishing: bring an online store to the latest row per key of a feature table version.

Only keys whose latest row changed since the version the store holds are written (and keys
that disappeared are deleted); a store with no usable snapshot is rewritten whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from lakehouse_ml.features.online.codec import Snapshot, encode
from lakehouse_ml.features.online.store import OnlineStore


@dataclass(frozen=True)
class PublishReport:
    table: str
    version: int
    written: int
    deleted: int
    replaced: bool
    """True when the store was rewritten whole rather than updated key by key."""


def publish(
    store: OnlineStore, table: str, keys: list[str], version: int,
    latest_at: Callable[[int], pl.DataFrame],
) -> PublishReport:
    """`latest_at(v)` is the latest row per key of the table at Delta version `v`."""
    now = latest_at(version)
    snapshot = Snapshot(version, keys, now.schema)
    held = store.snapshot(table)
    incremental = (
        held is not None and held.version <= version and held.keys == keys
        and held.schema == snapshot.schema
    )
    if incremental and held.version == version:
        return PublishReport(table, version, 0, 0, replaced=False)
    if incremental:
        before = latest_at(held.version)
        changed = now.join(before, on=now.columns, how="anti", nulls_equal=True)
        deleted = before.join(now, on=keys, how="anti", nulls_equal=True)
    else:
        changed, deleted = now, now.clear()
    store.write(
        table, snapshot, encode(changed, keys).to_list(),
        encode(changed, snapshot.values).to_list(), encode(deleted, keys).to_list(),
        replace=not incremental,
    )
    return PublishReport(table, version, changed.height, deleted.height, not incremental)
