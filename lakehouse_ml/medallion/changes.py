"""Which calendar days a set of landing batches touched: what downstream tables must redo."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date

import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.medallion.days import day_of
from lakehouse_ml.medallion.moves import vacated_days
from lakehouse_ml.medallion.spec import Domain
from lakehouse_ml.quality.contracts import typed_column


def earliest_touched_day(catalog: Catalog, domain: Domain, batches: Sequence[str],
                         sources: Collection[str] | None = None) -> date | None:
    """The earliest event day among everything landed in `batches` (late records included),
    in UTC or in the time zone of any of the domain's aggregates: a snapshot reading a gold
    table of New York days must redo from the local day, which may be the UTC day before.
    `sources`: only the records of the sources so named count (a feature table's
    `progress.feeding_sources`: late records of a source it does not read change none of its
    snapshots); None: every source of the domain.

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
    return min(days) if days else None
