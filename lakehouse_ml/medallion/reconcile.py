"""Conservation: every landed line is in silver, in a quarantine or rejects table, or was a
duplicate collapsed into a silver row of the same key — counted from the tables themselves."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.medallion.silver import steps
from lakehouse_ml.medallion.spec import Source
from lakehouse_ml.quality.contracts import typed_column

COUNTS = ("landed", "parse_rejected", "quarantined", "in_silver", "collapsed", "lost")


def _count(frame: pl.LazyFrame, name: str) -> pl.LazyFrame:
    return frame.group_by("_batch_id").agg(pl.len().alias(name))


def bronze_times(catalog: Catalog, source: Source, batches: Sequence[str]) -> tuple:
    """Earliest and latest readable event time among the batches' landed records."""
    event_time = source.event_time
    typed = typed_column(event_time, source.schema[event_time])
    return (
        catalog.scan(source.bronze_table).filter(pl.col("_batch_id").is_in(batches))
        .select(typed.min().alias("low"), typed.max().alias("high")).collect().row(0)
    )


def reconcile(catalog: Catalog, source: Source, batches: Sequence[str]) -> pl.DataFrame:
    """One row per batch with the counts in `COUNTS` and `balanced`.

    Batches are counted in the same groups silver refines them in, to bound memory.
    """
    parts = [_reconcile(catalog, source, step) for step in steps(catalog, source, batches)]
    return pl.concat(parts).sort("batch_id") if parts else _reconcile(catalog, source, [])


def _reconcile(catalog: Catalog, source: Source, batches: Sequence[str]) -> pl.DataFrame:
    keys = list(source.primary_key)

    def scan(table: str, columns: list[str]) -> pl.LazyFrame:
        return catalog.scan(table).filter(pl.col("_batch_id").is_in(batches)).select(columns)

    landed = (  # counted from the files' bytes at ingestion, the last content of each path
        catalog.scan(source.manifest_table).filter(pl.col("batch_id").is_in(batches))
        .sort("ingested_at").unique("path", keep="last")
        .group_by(pl.col("batch_id").alias("_batch_id")).agg(pl.col("lines").sum().alias("landed"))
    )
    bronze = scan(source.bronze_table, ["_batch_id", "_record_id", *keys]).with_columns(
        typed_column(k, source.schema[k]).alias(k) for k in keys
    )
    quarantine = scan(source.quarantine_table, ["_record_id"])
    silver_all = catalog.scan(source.silver_table)
    if source.event_time_immutable:  # a key's silver row has the event time of its batch rows
        event_time = source.event_time
        span = bronze_times(catalog, source, batches)
        silver_all = silver_all.filter(pl.col(event_time).is_between(*span))
    silver_all = silver_all.select(["_record_id", *keys])
    passed = bronze.join(quarantine, on="_record_id", how="anti")
    absent = passed.join(silver_all.select("_record_id"), on="_record_id", how="anti").collect()
    # a collapsed record's key may be held at another event time (a corrected version moved
    # it), so its key is looked up in all of silver; only the absent keys are read
    held = (catalog.scan(source.silver_table)
            .filter(*(pl.col(k).is_in(absent[k].implode()) for k in keys)).select(keys).unique())
    collapsed = absent.lazy().join(held, on=keys, how="semi")
    lost = absent.lazy().join(held, on=keys, how="anti", nulls_equal=True)
    parts = [
        _count(scan(source.rejects_table, ["_batch_id"]), "parse_rejected"),
        _count(bronze.join(quarantine, on="_record_id", how="semi"), "quarantined"),
        _count(scan(source.silver_table, ["_batch_id"]), "in_silver"),
        _count(collapsed, "collapsed"),
        _count(lost, "lost"),
    ]
    table = landed
    for part in parts:
        table = table.join(part, on="_batch_id", how="full", coalesce=True)
    accounted = pl.sum_horizontal(COUNTS[1:5])
    return (
        table.with_columns(pl.col(COUNTS).fill_null(0))
        .with_columns(balanced=(pl.col("landed") == accounted) & (pl.col("lost") == 0))
        .rename({"_batch_id": "batch_id"})
        .sort("batch_id")
        .collect()
    )
