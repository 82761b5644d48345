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


def rows_to_publish(scan: pl.LazyFrame, keys: list[str], ts: str | None, at: datetime,
                    only: pl.DataFrame | None = None) -> pl.DataFrame:
    """The rows a publication at `at` keeps: per key the latest row stamped at or before `at`
    and every row stamped after it (all rows of a table without a timeseries column).

    `only` (a frame with the `keys` columns): the rows of those keys alone. Their latest rows
    are first looked for among the rows stamped at the table's newest time at or before `at`
    (a daily snapshot table: its newest partition), and only the keys without a row there are
    looked for in the rest of the table, so a publication of a few changed days does not read
    the key and time columns of the whole history."""
    if only is not None:
        return _rows_of(scan, keys, ts, at, only)
    if ts is None:
        return scan.collect()
    past = latest_of_table(scan.filter(pl.col(ts) <= at), keys, ts)
    return pl.concat([past, scan.filter(pl.col(ts) > at).collect()])


def _rows_of(scan: pl.LazyFrame, keys: list[str], ts: str | None, at: datetime,
             only: pl.DataFrame) -> pl.DataFrame:
    schema = scan.collect_schema()
    wanted = only.select(pl.col(k).cast(schema[k]) for k in keys).unique().lazy()
    if ts is None:
        return scan.join(wanted, on=keys, how="semi").collect()
    past = scan.filter(pl.col(ts) <= at)
    newest = past.select(pl.col(ts).max()).collect().item()
    if newest is None:  # nothing stamped at or before `at`
        found = scan.head(0).collect()
    else:
        found = latest_of_table(
            past.filter(pl.col(ts) >= newest).join(wanted, on=keys, how="semi"), keys, ts)
        missing = wanted.join(found.lazy().select(keys), on=keys, how="anti").collect()
        if missing.height:  # e.g. a key whose newest rows were removed
            older = past.filter(pl.col(ts) < newest).join(missing.lazy(), on=keys, how="semi")
            found = pl.concat([found, latest_of_table(older, keys, ts)])
    return pl.concat([found, scan.filter(pl.col(ts) > at).join(wanted, on=keys, how="semi")
                      .collect()])


def _check_future(rows: pl.DataFrame, table: str, keys: list[str], ts: str, at: datetime,
                  limit: int) -> None:
    counts = rows.filter(pl.col(ts) > at).group_by(keys).len().sort("len", descending=True)
    if counts.height and counts["len"][0] > limit:
        raise FeatureStoreError(
            f"publish {table}: key {counts.row(0)[:-1]} has {counts['len'][0]} rows stamped "
            f"after the publication time {at.isoformat()} (at most {limit} are kept online); "
            "raise max_future_rows or publish once fewer lie ahead"
        )


def _update(store: OnlineStore, table: str, held: Snapshot, snapshot: Snapshot,
            rows: pl.DataFrame, touched: pl.DataFrame, keys: list[str]
            ) -> tuple[int, int] | None:
    """`store.update` with the encoded rows of the `touched` keys (those the commits since
    `held` added or removed rows of): the store writes the ones whose rows differ from what it
    holds and drops the touched keys without a row now. (keys written, keys dropped), or None
    if the store no longer holds the `held` publication (another one replaced it meanwhile)."""
    touched = touched.select(pl.col(k).cast(held.schema[k]) for k in keys).unique()
    encoded = encode(touched, keys).rename("key").to_frame()
    mine = rows.join(encoded, on="key", how="semi")
    gone = encoded.join(rows, on="key", how="anti")["key"]
    return store.update(table, held, snapshot, mine["key"].to_list(), mine["value"].to_list(),
                        gone.to_list())


def publish(
    store: OnlineStore, table: str, keys: list[str], ts: str | None, version: int,
    rows_at: Callable[[int, datetime], pl.DataFrame],
    changed_keys: Callable[[int], pl.DataFrame | None] = lambda since: None, *,
    max_future_rows: int = MAX_FUTURE_ROWS,
    rows_of: Callable[[int, datetime, pl.DataFrame], pl.DataFrame] | None = None,
) -> PublishReport:
    """`rows_at(v, t)` is `rows_to_publish` of the table at Delta version `v` for time `t`;
    `changed_keys(v)` the `keys` columns of the rows the commits after version `v` added or
    removed (every row of a rewritten file), or None when the table's history no longer tells
    (the default: then the store is rewritten whole). Only the new version is read: the rows of the
    touched keys are compared with what the store holds for them. `rows_of(v, t, k)`, if
    given, is `rows_at(v, t)` for the keys of the frame `k` alone: an update key by key then
    reads only the touched keys' rows (and checks only their rows stamped after now; the other
    keys' were checked when they were written, and fewer lie ahead as time passes).

    Raises `FeatureStoreError`, before writing anything, if a key has more than
    `max_future_rows` rows stamped after now.
    """
    now = datetime.now(UTC)
    held = store.snapshot(table)
    comparable = (held is not None and held.published_at is not None
                  and held.version <= version and held.keys == keys and held.timeseries == ts)
    touched = None
    if comparable and held.version < version:
        touched = changed_keys(held.version)
    elif comparable and rows_of is not None:  # the held version again: no key changed
        touched = pl.DataFrame(schema=held.key_schema)
    partial = touched is not None and rows_of is not None
    current = _checked(rows_of(version, now, touched) if partial else rows_at(version, now),
                       table, keys, ts, now, max_future_rows)
    snapshot = Snapshot(version, keys, current.schema, ts, now)
    incremental = comparable and held.schema == snapshot.schema
    if incremental and held.version == version:  # its rows hold for every time after `now`
        return PublishReport(table, version, 0, 0, False, held.published_at)
    rows = encode_grouped(current, keys, ts)
    if incremental and touched is not None:
        counts = _update(store, table, held, snapshot, rows, touched, keys)
        if counts is not None:
            return PublishReport(table, version, *counts, False, now)
    # nothing held, the history does not tell, or another publication replaced the held one
    # meanwhile: rewrite the store whole
    if partial:
        current = _checked(rows_at(version, now), table, keys, ts, now, max_future_rows)
        snapshot = Snapshot(version, keys, current.schema, ts, now)
        rows = encode_grouped(current, keys, ts)
    store.write(table, snapshot, rows["key"].to_list(), rows["value"].to_list(), [],
                replace=True)
    return PublishReport(table, version, rows.height, 0, True, now)


def _checked(rows: pl.DataFrame, table: str, keys: list[str], ts: str | None, at: datetime,
             limit: int) -> pl.DataFrame:
    """`rows`, once no key has more than `limit` rows stamped after `at` (`_check_future`)."""
    if ts is not None:
        _check_future(rows, table, keys, ts, at, limit)
    return rows
