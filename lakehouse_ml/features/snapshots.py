"""Materialize declared feature tables: build the snapshots of some days and upsert them.

Days are built and written in chunks of at most `CHUNK_DAYS`, so a step's memory follows the
chunk (plus the look-back its builder reads), not the range: a 180-day backfill holds one chunk
at a time. Tables created here are partitioned by their timestamp (one folder per snapshot day),
so a one-day refresh replaces only the files of the days it redoes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

import polars as pl

from lakehouse_ml.features import state
from lakehouse_ml.features.client import FeatureEngineeringClient
from lakehouse_ml.features.errors import FeatureStoreError
from lakehouse_ml.features.incremental import day_chunks
from lakehouse_ml.features.online import PublishReport
from lakehouse_ml.features.statistics import FeatureStatistics
from lakehouse_ml.features.timestamps import require_aware, snapshot_time
from lakehouse_ml.medallion.spec import FeatureTableSpec

AS_OF = "snapshot_at"
"""Every feature table also carries its timestamp as a feature, so a training set can show
(and a check can prove) which snapshot each row received."""

CHUNK_DAYS = 30
"""Snapshot days built and written together."""

DAY = timedelta(days=1)


@dataclass(frozen=True)
class SnapshotReport:
    days: list[date]
    rows_written: int
    version: int
    published: PublishReport
    statistics: FeatureStatistics
    """Per-feature statistics of the snapshot rows written."""


class Held(NamedTuple):
    """The first and the last snapshot day a feature table holds."""

    first: date
    last: date


def snapshot_days(partition_days: Sequence[str], earliest_touched: date | None,
                  first_day: date | None = None, held: Held | None = None) -> list[date]:
    """The snapshot days a refresh of `partition_days` redoes, ascending and contiguous.

    Landing day P completes the data of P, so it yields the snapshot of P + 1 (stamped
    P + 1 00:00 in the table's zone; a zone west of UTC completes local day P only with
    landing day P + 1, whose first hours redo it as late data do). Records for an earlier day
    X (`earliest_touched`: the earliest data day the refreshed batches changed, a day a key
    moved out of included) change every snapshot after X, however old X is: the days redone
    start at X + 1 and run to the last snapshot the table holds (`held`), however late (a day
    landed out of order, a file landed late in an old day's folder), the snapshots a backfill
    computes from the same data. Late data redo snapshots, they create none before those the
    table holds (none before this run's first when it holds none: a backfill on an empty
    lakehouse builds its own range, whatever the signup dates of the customers it meets), nor
    before `first_day`, the snapshot of the first partition (None: no bound). The days
    between the last held and the first of `partition_days` (days nothing landed on, whose
    partitions built nothing) are built too, as a backfill over them builds them. No partition
    days (an empty range): none."""
    if not partition_days:
        return []
    first, last = (date.fromisoformat(p) + DAY for p in
                   (min(partition_days), max(partition_days)))
    lowest = first_day or date.min
    if held is not None:  # a start after the day following the last held moves back to it
        first = min(first, max(held.last + DAY, lowest))
    if earliest_touched is not None:
        late = max(earliest_touched + DAY, first if held is None else held.first, lowest)
        first = min(first, late)
        if held is not None and late <= held.last:
            last = max(last, held.last)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def held_snapshots(client: FeatureEngineeringClient, spec: FeatureTableSpec) -> Held | None:
    """The first and last snapshot days the feature table holds (its stamps' dates in the
    table's zone), None when the table is missing or has no rows. From the Delta log when the
    table is partitioned by its timestamp (as `refresh_feature_table` creates it: no data file
    read), else from the timestamp column."""
    catalog, column = client.catalog, spec.timestamp_key
    if not catalog.exists(spec.table):
        return None
    if column in catalog.partitioned_by(spec.table):
        found = catalog.partition_range(spec.table, column)
    else:
        stamps = pl.col(column)
        found = catalog.scan(spec.table).select(
            stamps.min().alias("first"), stamps.max().alias("last")).collect().row(0)
    if found is None or found[0] is None:
        return None
    zone = ZoneInfo(spec.zone)
    return Held(*(stamp.astimezone(zone).date() for stamp in found))


def unbuilt(client: FeatureEngineeringClient, spec: FeatureTableSpec,
            partition_days: Sequence[str]) -> list[str]:
    """The partition days among `partition_days` whose snapshot (the next day's, stamped
    `snapshot_time`) the feature table does not hold; all of them when the table does not
    exist. A run builds these even when no input has new data for them: a day none of the
    table's sources landed anything on (another source of its domain did: the day is in)
    still gets its snapshot, from the data before it, as a backfill gives it. Reads the
    timestamp column of those days' partitions only."""
    if not client.catalog.exists(spec.table):
        return sorted(set(partition_days))
    stamps = {snapshot_time(date.fromisoformat(p) + DAY, spec.zone): p for p in partition_days}
    table, column = client.catalog.scan(spec.table), pl.col(spec.timestamp_key)
    wanted = pl.Series(list(stamps)).cast(table.collect_schema()[spec.timestamp_key])
    held = set(table.filter(column.is_in(wanted)).select(column.unique()).collect()
               .to_series().to_list())
    return sorted({p for stamp, p in stamps.items() if stamp not in held})


def _build(client: FeatureEngineeringClient, spec: FeatureTableSpec, days: list[date],
           carried: state.Carried | None) -> tuple[pl.DataFrame, state.Carried | None]:
    """The snapshots of `days`, and the state to keep after them (stateful builders only)."""
    inputs = {name: client.catalog.scan(name) for name in spec.inputs}
    kept = None
    if isinstance(spec.build, state.StatefulBuild) and days:
        lazy, kept = spec.build.build(inputs, days, state.usable(carried, days, None),
                                      state.keep_as_of(days, spec.max_lateness_days))
    else:
        lazy = spec.build(inputs, days)
    frame = lazy.with_columns(pl.col(spec.timestamp_key).alias(AS_OF))
    return frame.collect(engine="streaming"), kept


def check_stamps(spec: FeatureTableSpec, days: Sequence[date], frame: pl.DataFrame) -> None:
    """FeatureStoreError naming the table, a wrong value, how many rows have it and the stamp
    expected, unless every row of `frame` (a build's output for `days`) is stamped at the
    snapshot time of one of `days` in the table's zone (`snapshot_time`): a stamp before
    the end of the days a snapshot sums would let a label see data later than itself (a
    snapshot of New York days stamped at UTC midnight), and no stamp is moved silently."""
    where = f"feature table {spec.table}"
    column = spec.timestamp_key
    require_aware(frame.schema, column, f"{where}: snapshots built")
    expected = {snapshot_time(day, spec.zone): day for day in days}
    stamps = frame.get_column(column).dt.convert_time_zone("UTC")
    allowed = pl.Series(list(expected), dtype=pl.Datetime(stamps.dtype.time_unit, "UTC"))
    wrong = stamps.filter(~stamps.is_in(allowed).fill_null(False))
    if wrong.is_empty():
        return
    value = wrong[0]
    count = int((stamps == value).sum()) if value is not None else wrong.null_count()
    shown = "null" if value is None else value.isoformat()
    if not expected:
        raise FeatureStoreError(f"{where}: {wrong.len()} snapshot row(s) built for no day "
                                f"(e.g. stamped {shown}); a build of no days returns no rows")
    near = min(expected, key=lambda t: abs(t - value)) if value is not None else min(expected)
    raise FeatureStoreError(
        f"{where}: {count} snapshot row(s) stamped {shown}, which is not the stamp of a day "
        f"built ({min(expected.values())} to {max(expected.values())}) in its time zone "
        f"{spec.zone}: the snapshot of {expected[near]} is stamped {near.isoformat()} "
        f"({expected[near]} 00:00 {spec.zone}, the end of the local day before); "
        f"snapshot_stamps(day, days, {spec.zone!r}) gives it. Nothing was written")


def _write(client: FeatureEngineeringClient, spec: FeatureTableSpec, days: list[date],
           frame: pl.DataFrame) -> int:
    """Replace the snapshots stamped on `days` (contiguous) by `frame`: a row of those days
    that the build no longer gives is removed, as a backfill would not write it, and only
    those days' partitions are rewritten, without joining the stored rows (a merge would).
    No days: nothing to write (the table's version)."""
    if not days:
        return client.write_table(spec.table, frame)
    start, end = (snapshot_time(d, spec.zone) for d in (min(days), max(days) + DAY))
    return client.replace_time_range(spec.table, frame, start, end)


def _create(client: FeatureEngineeringClient, spec: FeatureTableSpec, schema: pl.Schema) -> None:
    client.create_table(
        spec.table, [*spec.entity_keys], schema=schema,
        timeseries_column=spec.timestamp_key, description=spec.description,
        tags=dict(spec.tags), owner=spec.owner, partition_columns=[spec.timestamp_key],
        feature_descriptions={
            AS_OF: "when the snapshot was taken",
            **{f.name: f.description for f in spec.features},
        },
    )


def refresh_feature_table(
    client: FeatureEngineeringClient, spec: FeatureTableSpec, partition_days: Sequence[str],
    earliest_touched: date | None = None, chunk_days: int = CHUNK_DAYS,
    first_day: date | None = None,
) -> SnapshotReport:
    """Compute the snapshots of `partition_days` and every later one the data of
    `earliest_touched` changed, however old (`snapshot_days`: those a backfill computes, from
    `first_day` on), write them `chunk_days` days at a time (each chunk replaces its days'
    rows, so the memory follows the chunk, not the range), then republish the online store.

    `spec.build` is called with each chunk's snapshot days, or once with none (an empty
    partition range): it must then return its columns without rows, which creates the table if
    it is missing and writes nothing. A `state.StatefulBuild` also gets the state kept by the
    previous chunk or refresh when it is usable (`state.usable`: no record of a day it holds
    was touched since; `state.start` deletes one that was, and the build reads its inputs),
    and its new state is written after a chunk's snapshots when it is `keep_every` days
    newer than the state kept (`state.due`; a later refresh starts from the older one)."""
    held = held_snapshots(client, spec) if partition_days else None
    days = snapshot_days(partition_days, earliest_touched, first_day, held)
    statistics = FeatureStatistics([f.name for f in spec.features])
    rows = 0
    carried, kept_as_of = None, None
    if isinstance(spec.build, state.StatefulBuild) and days:  # kept by an earlier refresh
        carried, kept_as_of = state.start(client.catalog, spec.table, days, earliest_touched)
    for chunk in day_chunks(days, chunk_days) or [[]]:
        frame, kept = _build(client, spec, chunk, carried)
        check_stamps(spec, chunk, frame)
        if not client.catalog.exists(spec.table):
            _create(client, spec, frame.schema)
        rows += frame.height
        statistics.add(frame)
        version = _write(client, spec, chunk, frame)
        del frame  # not held under the state's write and the publication
        if kept is not None and state.due(kept_as_of, kept.as_of, spec.build.keep_every):
            carried = state.write(client.catalog, spec.table, kept, spec.build.description,
                                  spec.owner, spec.entity_keys)
            kept_as_of = kept.as_of
    return SnapshotReport(days, rows, version, client.publish_table(spec.table), statistics)
