"""Which calendar days a set of landing batches touched: what downstream tables must redo."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.medallion.moves import vacated_days
from lakehouse_ml.medallion.spec import Domain
from lakehouse_ml.quality.contracts import typed_column


def earliest_touched_day(catalog: Catalog, domain: Domain, batches: Sequence[str]) -> date | None:
    """The earliest event day among everything landed in `batches` (late records included).

    Read from bronze, so versions that silver superseded still count: a snapshot built from
    record histories (e.g. a profile as of a day) changes when an old version arrives late.
    Days that keys moved by a corrected event time left count too (`medallion.moves`).
    """
    days = []
    for source in domain.sources:
        if not catalog.exists(source.bronze_table):
            continue
        event_time = source.event_time
        found = (
            catalog.scan(source.bronze_table)
            .filter(pl.col("_batch_id").is_in(batches))
            .select(typed_column(event_time, source.schema[event_time]).dt.date().min())
            .collect()
            .item()
        )
        if found is not None:
            days.append(found)
        days.extend(vacated_days(catalog, source, batches))
    return min(days) if days else None
