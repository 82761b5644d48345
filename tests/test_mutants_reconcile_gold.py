"""Conservation (medallion/reconcile.py) and gold (medallion/gold.py) code that `make mutation`
(issue 8) mutated and no test noticed, each asserted at the value that tells the correct code
from the mutant: the exact counts of the conservation check (landed = parse rejects +
quarantined + in silver + collapsed duplicates, nothing lost), which gold days are rebuilt and
which rows they hold. Real Delta tables, the boundary domain of tests/boundary_domain.py."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.config import Settings
from lakehouse_ml.ingest.bronze import ingest
from lakehouse_ml.medallion.gold import affected_days, build_aggregate
from lakehouse_ml.medallion.moves import day_zones, moves_table
from lakehouse_ml.medallion.reconcile import COUNTS, reconcile
from lakehouse_ml.medallion.silver import refine
from lakehouse_ml.medallion.spec import Aggregate, Domain, Source
from tests.boundary_domain import DAY1, DAY2, READINGS, SENSORS, land, reading

COUNTED = [*COUNTS, "balanced"]
D1, D2 = date.fromisoformat(DAY1), date.fromisoformat(DAY2)


def run_day(catalog: Catalog, settings: Settings, day: str, source: Source = READINGS,
            zones: frozenset[str] = frozenset()) -> None:
    ingest(catalog, source, settings.landing, [day])
    refine(catalog, source, [day], zones)


def counts(catalog: Catalog, source: Source = READINGS, day: str = DAY1) -> tuple:
    return reconcile(catalog, source, [day]).select(COUNTED).row(0)


# Conservation (medallion/reconcile.py)

@pytest.fixture
def day1(settings: Settings, catalog: Catalog) -> Catalog:
    """DAY1: a line that is not JSON (parse reject), r1 twice (v1 collapses into v2), r2, and
    r3 at 999 °C (quarantined): 5 lines, 2 silver rows."""
    path = Path(settings.landing) / land(settings.landing, DAY1, [
        reading("r1", 1), reading("r1", 2), reading("r2"), reading("r3", celsius=999.0)])
    path.write_text(path.read_text() + "{not json\n")
    run_day(catalog, settings, DAY1)
    return catalog


def test_parse_rejects_count_and_an_unaccounted_line_is_unbalanced_with_nothing_lost(
    day1: Catalog,
) -> None:
    """Balanced only when landed = parse_rejected + quarantined + in_silver + collapsed and
    nothing is lost: the parse reject is one of the accounted terms, and a landed line that is
    nowhere (its reject row deleted) unbalances the batch although `lost` is 0."""
    assert counts(day1) == (5, 1, 1, 2, 1, 0, True)

    day1.delete(READINGS.rejects_table, "reason IS NOT NULL")

    assert counts(day1) == (5, 0, 1, 2, 1, 0, False)


def test_landed_counts_each_path_by_its_last_ingestion(day1: Catalog) -> None:
    """A manifest that holds a path twice (appended by an older version; the next ingest
    repairs it): `landed` takes the lines of the path's latest ingestion only, whatever order
    the rows are stored in."""
    latest = day1.read(READINGS.manifest_table)
    stale = latest.with_columns(pl.lit(9, dtype=pl.Int64).alias("lines"),
                                pl.col("ingested_at") - timedelta(hours=1))
    # each row its own commit, in both orders: a scan reads files in an order of its own
    for first, then in ((stale, latest), (latest, stale)):
        day1.overwrite(READINGS.manifest_table, first)
        day1.append(READINGS.manifest_table, then)
        assert sorted(day1.read(READINGS.manifest_table)["lines"]) == [5, 9]

        assert counts(day1) == (5, 1, 1, 2, 1, 0, True)


def test_a_quarantined_record_counts_once_however_often_the_quarantine_holds_it(
    day1: Catalog,
) -> None:
    """`quarantined` counts landed records found in the quarantine, not quarantine rows: a
    record held there twice is still one landed line."""
    held = day1.read(READINGS.quarantine_table)
    assert held["reading_id"].to_list() == ["r3"]
    day1.append(READINGS.quarantine_table, held)

    assert counts(day1) == (5, 1, 1, 2, 1, 0, True)


def test_keys_are_typed_as_in_silver_before_a_duplicate_is_looked_up(
    settings: Settings, catalog: Catalog
) -> None:
    """A key with an integer column (landed as text in bronze): the collapsed duplicate is
    found in silver by its typed key."""
    keyed = replace(READINGS, primary_key=("reading_id", "version"))
    land(settings.landing, DAY1, [reading("r1", 1, 10.0), reading("r1", 1, 11.0),
                                  reading("r1", 2, 12.0)])
    run_day(catalog, settings, DAY1, keyed)
    assert catalog.read(keyed.silver_table).height == 2

    assert counts(catalog, keyed) == (3, 0, 0, 2, 1, 0, True)


def test_reconciling_no_batch_is_an_empty_table_of_every_count(day1: Catalog) -> None:
    """No batch, or one nobody landed: no row, and the columns of a reconciled batch."""
    for batches in ([], ["2026-03-01"]):
        table = reconcile(day1, READINGS, batches)
        assert (table.height, table.columns) == (0, ["batch_id", *COUNTED])


# Gold (medallion/gold.py)

def hottest_in(zone: str) -> Callable[[Mapping[str, pl.LazyFrame]], pl.LazyFrame]:
    """Hottest reading and readings per local day in `zone`, latest day first: the engine,
    not the build, orders gold by its primary key (reversed, not sorted descending, which
    polars drops when another sort follows)."""
    def build(silver: Mapping[str, pl.LazyFrame]) -> pl.LazyFrame:
        day = pl.col("measured_at").dt.convert_time_zone(zone).dt.date().alias("day")
        return (silver["readings"].group_by(day)
                .agg(pl.col("celsius").max().alias("max_celsius"), pl.len().alias("readings"))
                .sort("day").reverse())
    return build


def aggregate_in(zone: str) -> tuple[Domain, Aggregate]:
    aggregate = Aggregate(name="hottest_local", description="Hottest reading per local day.",
                          inputs=("readings",), build=hottest_in(zone), day_column="day",
                          primary_key=("day",), owner="team:sensors", time_zone=zone)
    return replace(SENSORS, aggregates=(aggregate,)), aggregate


def gold_rows(catalog: Catalog, aggregate: Aggregate) -> list[tuple]:
    return catalog.read(aggregate.table).sort("day").rows()


def test_gold_rebuilds_exactly_the_days_a_batch_touched_and_reports_them(
    settings: Settings, catalog: Catalog
) -> None:
    """DAY1's batch builds DAY1. DAY2's batch holds a DAY2 reading and a late DAY1 one: both
    days are recomputed from all their silver rows, in primary-key order, and replace only
    themselves; the report names the days, the rows written, the gold version, the rows."""
    domain, aggregate = aggregate_in("UTC")
    land(settings.landing, DAY1, [reading("a", celsius=20.0), reading("b", celsius=25.0)])
    run_day(catalog, settings, DAY1)
    first = build_aggregate(catalog, domain, aggregate, [DAY1])
    assert (first.days, first.rows_written, first.frame.rows()) == ([D1], 1, [(D1, 25.0, 2)])
    assert first.gold_version == catalog.version(aggregate.table)
    assert catalog.describe(aggregate.table).info == TableInfo(
        owner="team:sensors", comment="Hottest reading per local day.", tags={"layer": "gold"})

    land(settings.landing, DAY2, [reading("c", celsius=30.0, at=f"{DAY2}T05:00:00Z"),
                                  reading("late", celsius=22.0)])
    run_day(catalog, settings, DAY2)
    second = build_aggregate(catalog, domain, aggregate, [DAY2])

    assert (second.days, second.rows_written) == ([D1, D2], 2)
    assert second.frame.rows() == [(D1, 25.0, 3), (D2, 30.0, 1)]
    assert second.gold_version == catalog.version(aggregate.table) == first.gold_version + 1
    assert gold_rows(catalog, aggregate) == second.frame.rows()


def test_gold_replaces_only_the_touched_days(settings: Settings, catalog: Catalog) -> None:
    """A batch touching DAY2 only leaves DAY1's gold row in place."""
    domain, aggregate = aggregate_in("UTC")
    land(settings.landing, DAY1, [reading("a", celsius=20.0)])
    land(settings.landing, DAY2, [reading("b", celsius=30.0, at=f"{DAY2}T05:00:00Z")])
    for day in (DAY1, DAY2):
        run_day(catalog, settings, day)
        build_aggregate(catalog, domain, aggregate, [day])

    assert gold_rows(catalog, aggregate) == [(D1, 20.0, 1), (D2, 30.0, 1)]


def test_a_batch_touching_no_day_writes_nothing_and_reports_the_current_version(
    settings: Settings, catalog: Catalog
) -> None:
    domain, aggregate = aggregate_in("UTC")
    land(settings.landing, DAY1, [reading("a", celsius=20.0)])
    run_day(catalog, settings, DAY1)
    build_aggregate(catalog, domain, aggregate, [DAY1])
    version = catalog.version(aggregate.table)

    report = build_aggregate(catalog, domain, aggregate, ["2026-03-01"])  # nobody landed

    assert (report.days, report.rows_written, report.frame.height) == ([], 0, 0)
    assert report.gold_version == version == catalog.version(aggregate.table)
    assert gold_rows(catalog, aggregate) == [(D1, 20.0, 1)]


def test_gold_redoes_the_local_day_a_key_left(settings: Settings, catalog: Catalog) -> None:
    """In Asia/Tokyo (UTC+9) r1 stamped DAY1 20:00 UTC is on DAY2. Re-sent with a corrected
    time it moves to 2026-02-05: the day it left is DAY2 in Tokyo (DAY1 in UTC), and gold
    recomputes that local day without it."""
    domain, aggregate = aggregate_in("Asia/Tokyo")
    zones = frozenset(day_zones(domain, READINGS))
    land(settings.landing, DAY1, [reading("r1", 1, 40.0, at=f"{DAY1}T20:00:00Z"),
                                  reading("r2", 1, 10.0, at=f"{DAY1}T21:00:00Z")])
    run_day(catalog, settings, DAY1, zones=zones)
    build_aggregate(catalog, domain, aggregate, [DAY1])
    assert gold_rows(catalog, aggregate) == [(D2, 40.0, 2)]

    land(settings.landing, DAY2, [reading("r1", 2, 35.0, at="2026-02-05T01:00:00Z")])
    run_day(catalog, settings, DAY2, zones=zones)
    assert catalog.read(moves_table(READINGS))["moved_from"].to_list() == [
        datetime.fromisoformat(f"{DAY1}T20:00:00+00:00")]

    assert affected_days(catalog, domain, aggregate, [DAY2]) == [D2, date(2026, 2, 5)]
    build_aggregate(catalog, domain, aggregate, [DAY2])
    assert gold_rows(catalog, aggregate) == [(D2, 10.0, 1), (date(2026, 2, 5), 35.0, 1)]
