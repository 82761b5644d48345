"""Which calendar days a set of landing batches touched: what downstream tables must redo."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date

import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.medallion.days import day_of
from lakehouse_ml.medallion.moves import moves_table, vacated_days
from lakehouse_ml.medallion.spec import Domain, Source
from lakehouse_ml.quality.contracts import typed_column


def earliest_touched_day(catalog: Catalog, domain: Domain, batches: Sequence[str],
                         sources: Collection[str] | None = None,
                         current: Collection[str] | None = None) -> date | None:
    """The earliest event day among everything landed in `batches` (late records included),
    in UTC or in the time zone of any of the domain's aggregates: a snapshot reading a gold
    table of New York days must redo from the local day, which may be the UTC day before.
    `sources`: only the records of the sources so named count (a feature table's
    `progress.feeding_sources`: late records of a source it does not read change none of its
    snapshots); None: every source of the domain. `current`: the sources whose effective dates
    count (`redated_days`; a feature table's `progress.current_sources`: a table reading a
    source's versions as of each snapshot sees a new version from its event time only);
    None: every source's.

    Read from bronze, so versions that silver superseded still count: a snapshot built from
    record histories (e.g. a profile as of a day) changes when an old version arrives late.
    Days that keys moved by a corrected event time left count too (`medallion.moves`).
    """
    zones = sorted({"UTC", *(a.time_zone for a in domain.aggregates)})
    days = []
    for source in domain.sources:
        if sources is not None and source.name not in sources:
            continue
        if not catalog.exists(source.bronze_table):
            continue
        event_time = source.event_time
        dtype = source.schema[event_time]
        found = (
            catalog.scan(source.bronze_table)
            .filter(pl.col("_batch_id").is_in(batches))
            .select(typed_column(event_time, dtype))
            .select(pl.min_horizontal(day_of(event_time, dtype, zone).min() for zone in zones))
            .collect()
            .item()
        )
        if found is not None:
            days.append(found)
        for zone in zones:
            days.extend(vacated_days(catalog, source, batches, zone))
        if current is None or source.name in current:
            days.extend(redated_days(catalog, source, batches, zones))
    return min(days) if days else None


def redated_days(catalog: Catalog, source: Source, batches: Sequence[str],
                 zones: Collection[str]) -> list[date]:
    """The earliest day (in any of `zones`) of the `source.effective_dates` values, before and
    after, of each key whose current version `batches` re-dated: the key's latest valid
    version (by `sequence_by`, else event time) outside `batches` against its latest valid
    version overall, i.e. what silver held before and holds now. A key first known (its earlier
    records quarantined, say, with a signup_date long before its updated_at), one re-sent with
    another signup_date, or moved back to an earlier one, counts; a plan change re-sending the
    same signup_date, or an older version arriving late, does not. Old and new values count,
    so the snapshots a key leaves are redone as well as those it enters. Versions tied at the
    latest with different values count as changed. Empty when the source declares no effective
    dates or no key of `batches` is re-dated.

    Valid: not in the source's quarantine. A re-landed file's earlier content counts as held
    before: its effective dates are in the source's moves table (`medallion.moves`), the only
    place they are kept once the file's new content replaced them. Reads the key, batch,
    sequence and effective-date columns of bronze and the moves table."""
    if not source.effective_dates or not catalog.exists(source.bronze_table):
        return []
    keys, lineage = list(source.primary_key), ["_batch_id", "_record_id"]
    dated, order = list(source.effective_dates), source.sequence_by or source.event_time
    texts = [c for c in dict.fromkeys([order, *dated]) if c not in keys]  # typed once filtered
    bronze = catalog.scan(source.bronze_table).select(
        *lineage, *(typed_column(k, source.schema[k]) for k in keys), *texts)
    if catalog.exists(source.quarantine_table):
        bronze = bronze.join(catalog.scan(source.quarantine_table).select(lineage),
                             on=lineage, how="anti")
    fresh = pl.col("_batch_id").is_in(batches)
    touched = bronze.filter(fresh).select(keys).drop_nulls().unique().collect()
    if touched.is_empty():
        return []
    days = {f"{c} {zone}": day_of(c, source.schema[c], zone) for c in dated for zone in zones}
    versions = bronze.join(touched.lazy(), on=keys, how="semi").with_columns(
        typed_column(c, source.schema[c]) for c in texts).select(
        *keys, order, fresh.alias("_new"), **days)
    latest = pl.col(order) == pl.col(order).max().over(keys)
    before = versions.filter(~pl.col("_new")).filter(latest).select(*keys, *days)
    moves = moves_table(source)
    if catalog.exists(moves) and set(dated) <= set(catalog.schema(moves)):
        before = pl.concat([before, catalog.scan(moves).filter(fresh).select(*keys, **days)])
    was, now = (_values(frame, keys, list(days)) for frame in (
        before, versions.filter(latest).select(*keys, *days)))
    by = [*keys, "variable", "value"]
    redated = pl.concat([
        now.join(was, on=by, how="anti").select(keys),
        was.join(now, on=by, how="anti").select(keys),
        *(frame.group_by(*keys, "variable").len().filter(pl.col("len") > 1).select(keys)
          for frame in (was, now)),
    ]).unique()
    found = (pl.concat([was, now]).join(redated, on=keys, how="semi")
             .select(pl.col("value").min()).collect())
    return [d for d in found.to_series().to_list() if d is not None]


def _values(frame: pl.LazyFrame, keys: list[str], columns: list[str]) -> pl.LazyFrame:
    """(keys, variable: the column, value) of `frame`'s non-null `columns`, each once."""
    return (frame.unpivot(columns, index=keys).filter(pl.col("value").is_not_null())
            .unique())
