"""Publishing: bring an online store to what lookups at or after the publication time need.

For a table with a timeseries column that is, per key, its latest row stamped at or before the
publication time plus every row stamped after it (at most `max_future_rows`): a lookup at any
time from the publication on then finds the row the training-set join finds. Without a
timeseries column it is the key's one row. Only keys whose rows changed since the snapshot the
store holds are written (and keys that disappeared are deleted); a store with no usable
snapshot is rewritten whole.

Which keys changed comes from the table's change record (`changed_keys`: the keys of the rows
the commits since the held version added or removed, which `Catalog.changes` reads from those
commits' files only), so that a publication reads the table once, at its new version, and
compares the touched keys' rows with what the store holds for them. A key outside those files
keeps its stored rows, which stay exact for every later lookup: its rows did not change, only
rows stamped since the held publication became past, and the store holds them. When the
history no longer tells (its log expired, a removed file was vacuumed), the store is rewritten
whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from lakehouse_ml.features.errors import FeatureStoreError
from lakehouse_ml.features.online.codec import Snapshot, encode, encode_grouped
from lakehouse_ml.features.online.store import OnlineStore
from lakehouse_ml.features.pit import latest_of_table

MAX_FUTURE_ROWS = 100
"""Rows stamped after the publication time kept per key, by default."""


@dataclass(frozen=True)
class PublishReport:
    table: str
    version: int
    written: int
    """Keys whose rows were written."""
    deleted: int
    replaced: bool
    """True when the store was rewritten whole rather than updated key by key."""
    published_at: datetime
    """Online lookups at or after this time equal the training-set join (of the held
    snapshot's publication time if nothing was written)."""


def rows_to_publish(scan: pl.LazyFrame, keys: list[str], ts: str | None, at: datetime
                    ) -> pl.DataFrame:
    """The rows a publication at `at` keeps: per key the latest row stamped at or before `at`
    and every row stamped after it (all rows of a table without a timeseries column)."""
    if ts is None:
        return scan.collect()
    past = latest_of_table(scan.filter(pl.col(ts) <= at), keys, ts)
    return pl.concat([past, scan.filter(pl.col(ts) > at).collect()])


def _check_future(rows: pl.DataFrame, table: str, keys: list[str], ts: str, at: datetime,
                  limit: int) -> None:
    counts = rows.filter(pl.col(ts) > at).group_by(keys).len().sort("len", descending=True)
    if counts.height and counts["len"][0] > limit:
        raise FeatureStoreError(
            f"publish {table}: key {counts.row(0)[:-1]} has {counts['len'][0]} rows stamped "
            f"after the publication time {at.isoformat()} (at most {limit} are kept online); "
            "raise max_future_rows or publish once fewer lie ahead"
        )


def _changes_since(store: OnlineStore, table: str, held: Snapshot, rows: pl.DataFrame,
                   touched: pl.DataFrame, keys: list[str]
                   ) -> tuple[pl.DataFrame, pl.Series] | None:
    """(encoded rows of the `touched` keys that differ from what the store holds, encoded
    touched keys the store holds without a row now), or None if the store no longer holds
    the `held` publication (another one replaced it meanwhile)."""
    touched = touched.select(pl.col(k).cast(held.schema[k]) for k in keys).unique()
    encoded = encode(touched, keys).rename("key")
    stored, values = store.read(table, encoded.to_list())
    if stored != held:
        return None
    before = pl.DataFrame({"key": encoded, "value": pl.Series(values, dtype=pl.String)}
                          ).drop_nulls("value")
    changed = rows.join(before, on=["key", "value"], how="anti").join(
        encoded.to_frame(), on="key", how="semi")
    deleted = before.join(rows, on="key", how="anti")["key"]
    return changed, deleted


def publish(
    store: OnlineStore, table: str, keys: list[str], ts: str | None, version: int,
    rows_at: Callable[[int, datetime], pl.DataFrame],
    changed_keys: Callable[[int], pl.DataFrame | None] = lambda since: None, *,
    max_future_rows: int = MAX_FUTURE_ROWS,
) -> PublishReport:
    """`rows_at(v, t)` is `rows_to_publish` of the table at Delta version `v` for time `t`;
    `changed_keys(v)` the `keys` columns of the rows the commits after version `v` added or
    removed (every row of a rewritten file), or None when the table's history no longer tells
    (the default: then the store is rewritten whole). Only the new version is read: the rows of the
    touched keys are compared with what the store holds for them.

    Raises `FeatureStoreError`, before writing anything, if a key has more than
    `max_future_rows` rows stamped after now.
    """
    now = datetime.now(UTC)
    held = store.snapshot(table)
    current = rows_at(version, now)
    if ts is not None:
        _check_future(current, table, keys, ts, now, max_future_rows)
    snapshot = Snapshot(version, keys, current.schema, ts, now)
    incremental = (
        held is not None and held.published_at is not None and held.version <= version
        and held.keys == keys and held.schema == snapshot.schema and held.timeseries == ts
    )
    if incremental and held.version == version:  # its rows hold for every time after `now`
        return PublishReport(table, version, 0, 0, False, held.published_at)
    rows = encode_grouped(current, keys, ts)
    touched = changed_keys(held.version) if incremental else None
    found = None if touched is None else _changes_since(store, table, held, rows, touched, keys)
    if found is None:  # nothing held, the history does not tell, or another publication
        incremental = False  # replaced the held one meanwhile: rewrite the store whole
    changed, deleted = found or (rows, pl.Series(dtype=pl.String))
    store.write(table, snapshot, changed["key"].to_list(), changed["value"].to_list(),
                deleted.to_list(), replace=not incremental)
    return PublishReport(table, version, changed.height, deleted.len(), not incremental, now)
