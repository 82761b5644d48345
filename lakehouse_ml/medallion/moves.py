"""Keys whose event time a new version changed: every one for sources declared
`event_time_immutable`, those whose day changes for sources a gold aggregate reads.

An immutable source's MERGE reads only silver files of the batch's time range. A key re-sent with a
corrected event time may have its stored row outside that range: `stored_elsewhere` finds every
key whose stored time differs from the new version's, inside the range or outside it (reading
only key and time columns, where file statistics on the key can skip files), the MERGE then also
reads their times, so the key keeps one row; `silver.<entity>_moves` records the time
each key left, so gold recomputes the day it left as well as the day it arrived.

A source whose event time changes (e.g. `updated_at`) moves keys on most updates: it records a
move only when the key's day changes in UTC or in the time zone of an aggregate reading it
(`day_zones`), and only if an aggregate reads it, so the moves table and the days feature
snapshots redo stay those that a gold day needs.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date

import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.lake.predicates import between, in_list
from lakehouse_ml.medallion.days import day_of
from lakehouse_ml.medallion.spec import Domain, Source

MOVED_FROM = "moved_from"
_NEW = "__new_"


def moves_table(source: Source) -> str:
    return f"{source.silver_table}_moves"


def moves_schema(source: Source) -> pl.Schema:
    """Keys, the event time each left, the batch that moved it, and the effective dates it
    left (`Source.effective_dates`; known when a re-landed file's earlier content is withdrawn,
    null otherwise)."""
    schema = source.schema
    return pl.Schema({**{k: schema[k] for k in source.primary_key},
                      MOVED_FROM: schema[source.event_time], "_batch_id": pl.String,
                      **{c: schema[c] for c in source.effective_dates}})


def day_zones(domain: Domain, source: Source) -> set[str]:
    """UTC and the time zones of `domain`'s aggregates reading `source`; none if none reads it."""
    zones = {a.time_zone for a in domain.aggregates if source.name in a.inputs}
    return zones | {"UTC"} if zones else set()


def day_changed(
    source: Source, rows: pl.DataFrame, elsewhere: pl.DataFrame, zones: Collection[str]
) -> pl.DataFrame:
    """The keys of `elsewhere` (from `stored_elsewhere`) whose day in one of `zones` differs
    between their stored event time and the one in `rows`."""
    keys, event_time = list(source.primary_key), source.event_time
    new_time, dtype = f"{_NEW}{event_time}", source.schema[event_time]
    moved = [day_of(event_time, dtype, z).ne_missing(day_of(new_time, dtype, z)) for z in zones]
    return (
        elsewhere.join(rows.select(*keys, pl.col(event_time).alias(new_time)), on=keys)
        .filter(pl.any_horizontal(moved) if moved else pl.lit(False))
        .select(elsewhere.columns)
    )


def stored_elsewhere(catalog: Catalog, source: Source, rows: pl.DataFrame) -> pl.DataFrame:
    """Silver rows of the keys of `rows` whose stored event time differs from the one `rows`
    carry, as (keys..., stored event time): the keys a new version moves, whether their stored
    time is inside `rows`' time range or not; none on a normal day. Reads only key and time
    columns, of files whose key statistics can hold a key of `rows`."""
    keys, event_time = list(source.primary_key), source.event_time
    columns = list(dict.fromkeys([*keys, event_time]))  # the time may be a key
    new_time = f"{_NEW}{event_time}"
    return (
        catalog.scan(source.silver_table)
        .filter(*among(rows, keys))
        .select(columns)
        .join(rows.lazy().select(*keys, pl.col(event_time).alias(new_time)), on=keys, how="inner")
        .filter(pl.col(event_time).ne_missing(pl.col(new_time)))
        .select(columns)
        .collect()
    )


def among(rows: pl.DataFrame, keys: Sequence[str]) -> list[pl.Expr]:
    """Filters that hold for the `keys` of `rows` (a superset); their ranges let file
    statistics skip files."""
    return [expr for k in keys for expr in (
        pl.col(k).is_between(pl.lit(rows[k].min()), pl.lit(rows[k].max())),
        pl.col(k).is_in(rows[k].implode()))]


def merge_range(source: Source, rows: pl.DataFrame, elsewhere: pl.DataFrame) -> str:
    """MERGE target filter over `t`: the time range of `rows`, plus the times of `elsewhere`
    outside it."""
    times = rows[source.event_time]
    span = between(source.event_time, times.min().isoformat(), times.max().isoformat(),
                   alias="t")
    if elsewhere.is_empty():
        return span
    moved_times = elsewhere[source.event_time].unique()
    outside = moved_times.filter(~moved_times.is_between(times.min(), times.max()))
    if outside.is_empty():
        return span
    moved = [t.isoformat() for t in outside]
    return f"({span} OR {in_list(source.event_time, moved, alias='t')})"


def record_moves(
    catalog: Catalog, source: Source, rows: pl.DataFrame, elsewhere: pl.DataFrame
) -> None:
    """Append (key, time it leaves, batch of the new version, effective dates it leaves if
    `elsewhere` has them) for each key in `elsewhere`. Append only: a re-run finds nothing left
    to move, and must not erase what gold needs. A table made before effective dates were
    recorded gains their columns."""
    if elsewhere.is_empty():
        return
    keys = list(source.primary_key)
    _, tags = source.column_docs()
    catalog.create_table(moves_table(source), moves_schema(source), TableInfo(
        owner=source.owner, tags={"layer": "silver"},
        column_tags={k: tags[k] for k in keys if k in tags},
        comment=f"{source.silver_name} keys whose event time a later version changed, or "
        "whose re-landed file's earlier content was withdrawn: the time (and effective dates) "
        "each left and the batch that moved it."))
    schema = moves_schema(source)
    moves = elsewhere.with_columns(
        pl.col(source.event_time).alias(MOVED_FROM),
        *(pl.lit(None, schema[c]).alias(c) for c in source.effective_dates
          if c not in elsewhere.columns),
    ).join(rows.select([*keys, "_batch_id"]), on=keys, how="inner")
    catalog.append(moves_table(source), moves.select(schema.names()), evolve=True)


def vacated_days(
    catalog: Catalog, source: Source, batches: Sequence[str], time_zone: str = "UTC"
) -> set[date]:
    """Days, in `time_zone`, that keys moved by `batches` left (their rows are no longer on
    those days)."""
    if not catalog.exists(moves_table(source)):
        return set()
    found = (
        catalog.scan(moves_table(source)).filter(pl.col("_batch_id").is_in(batches))
        .select(day_of(MOVED_FROM, source.schema[source.event_time], time_zone).unique())
        .collect().to_series()
    )
    return {d for d in found.to_list() if d is not None}
