"""Silver code (`medallion/silver.py`) whose mutants survived `make mutation` (issue 8), each
asserted at the value that tells the correct code from the mutant: which rows silver, the
quarantine and the moves table hold, in which order, what `duplicate_keys` finds, what the
catalog records about the silver tables (real Delta tables, the boundary domain of
tests/boundary_domain.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn import DOMAIN
from lakehouse_ml.ingest.bronze import ingest
from lakehouse_ml.medallion import silver
from lakehouse_ml.medallion.moves import moves_table
from lakehouse_ml.medallion.silver import duplicate_keys, ensure_silver_tables, ordering, refine
from tests.boundary_domain import BATCH_DAYS, DAY1, DAY2, READINGS, land, land_batches, reading

NEW_YORK = "America/New_York"


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _refine_day(catalog: Catalog, settings: Settings, day: str,
                zones: tuple[str, ...] = ()) -> silver.SilverReport:
    ingest(catalog, READINGS, settings.landing, [day])
    return refine(catalog, READINGS, [day], zones)


# _target_filter and refine's `zones`: moves of a source whose event time changes

@pytest.fixture
def moved_readings(settings: Settings) -> Settings:
    """READINGS' event time (`measured_at`) is not declared immutable. On day 2, r1's new
    version moves it to the next UTC day; r2's stays inside its day everywhere; r3's stays
    on 2026-02-01 in UTC but crosses New York's midnight (04:00Z is 23:00 on 2026-01-31
    there, 06:00Z is 01:00 on 2026-02-01)."""
    land(settings.landing, DAY1, [reading("r1", 1, at="2026-02-01T01:00:00Z"),
                                  reading("r2", 1, at="2026-02-01T12:00:00Z"),
                                  reading("r3", 1, at="2026-02-01T04:00:00Z")])
    land(settings.landing, DAY2, [reading("r1", 2, at="2026-02-02T01:00:00Z"),
                                  reading("r2", 2, at="2026-02-01T13:00:00Z"),
                                  reading("r3", 2, at="2026-02-01T06:00:00Z")])
    return settings


@pytest.mark.parametrize(("zones", "moved"), [
    (("UTC", NEW_YORK), [("r1", "2026-02-01T01:00:00Z"), ("r3", "2026-02-01T04:00:00Z")]),
    (("UTC",), [("r1", "2026-02-01T01:00:00Z")]),
])
def test_refine_records_the_keys_whose_day_changes_in_one_of_its_zones(
    moved_readings: Settings, catalog: Catalog, zones: tuple[str, ...],
    moved: list[tuple[str, str]],
) -> None:
    """Each key whose day changes in one of `zones` is one row of `silver.readings_moves`:
    its key, the time it left, the batch that moved it; a key whose day is the same in every
    zone is not; silver keeps one row per key, the new version."""
    _refine_day(catalog, moved_readings, DAY1, zones)
    assert not catalog.exists(moves_table(READINGS))  # nothing moved yet
    _refine_day(catalog, moved_readings, DAY2, zones)
    assert catalog.read(moves_table(READINGS)).sort("reading_id").rows() == [
        (key, _utc(left), DAY2) for key, left in moved]
    stored = catalog.read(READINGS.silver_table).sort("reading_id")
    assert stored.select("reading_id", "version", "_batch_id").rows() == [
        ("r1", 2, DAY2), ("r2", 2, DAY2), ("r3", 2, DAY2)]


# refine: the quarantine is replaced batch by batch

def test_the_quarantine_keeps_each_batchs_rejects_and_replaces_only_a_rerun_batchs(
    settings: Settings, catalog: Catalog
) -> None:
    """Refining day 2 leaves day 1's rejects in place; refining day 1 again replaces them
    (one row each, not two), and day 2's stay."""
    land(settings.landing, DAY1, [reading("r1", celsius=200.0), reading("r2")])
    land(settings.landing, DAY2, [reading("r3", celsius=-60.0), reading("r4")])
    _refine_day(catalog, settings, DAY1)
    _refine_day(catalog, settings, DAY2)
    expected = [("r1", DAY1), ("r3", DAY2)]

    def quarantined() -> list[tuple[str, str]]:
        return (catalog.read(READINGS.quarantine_table).sort("reading_id")
                .select("reading_id", "_batch_id").rows())

    assert quarantined() == expected
    assert refine(catalog, READINGS, [DAY1]).quarantined == 1
    assert quarantined() == expected


# refine: the winners' order

def test_refine_writes_a_steps_rows_in_the_order_of_versions_then_lineage(
    settings: Settings, catalog: Catalog
) -> None:
    """The winners of a step go to the MERGE in `ordering` order (version, batch, file,
    line), not in hash order, so a rerun writes the same file; delta-rs inserts a small
    source (one record batch) in its order, so an unsorted read of the new table shows it:
    60 keys landed with versions 1 to 3 in turn, each fifth also with an older version 0 on a
    later line (collapsed: silver keeps 60 rows)."""
    rows = [reading(f"r{i:02d}", 1 + i % 3) for i in range(60)]
    rows += [reading(f"r{i:02d}", 0) for i in range(0, 60, 5)]
    land(settings.landing, DAY1, rows)
    _refine_day(catalog, settings, DAY1)
    stored = catalog.read(READINGS.silver_table)  # file order, no sort
    assert stored.height == 60
    assert stored.rows() == stored.sort(ordering(READINGS)).rows()
    assert stored["reading_id"].head(3).to_list() == ["r00", "r03", "r06"]


# duplicate_keys

@pytest.fixture
def refined(settings: Settings, catalog: Catalog) -> Catalog:
    refine(land_batches(settings.landing, catalog), READINGS, BATCH_DAYS)
    return catalog


def _copy(catalog: Catalog, key: str, batch: str) -> None:
    """A second silver row for `key`, written under `batch`, as a writer outside the engine
    could leave it."""
    row = catalog.read(READINGS.silver_table).filter(pl.col("reading_id") == key).head(1)
    catalog.append(READINGS.silver_table, row.with_columns(pl.lit(batch).alias("_batch_id"),
                                                           pl.lit("x#1").alias("_record_id")))


def test_duplicate_keys_sorts_the_keys_found_by_every_step(
    refined: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Steps [day 1, day 2], [day 3], [day 4]: a key copied under day 1 (so also found by day
    4's step) and a smaller key copied under day 3 are each found once, sorted by key, with
    their row counts (3 rows for a key held three times)."""
    _copy(refined, "2026-02-04-0", BATCH_DAYS[0])
    _copy(refined, "2026-02-03-1", BATCH_DAYS[2])
    _copy(refined, "2026-02-03-1", BATCH_DAYS[2])
    monkeypatch.setattr(silver, "ROWS_PER_STEP", 3)
    found = duplicate_keys(refined, READINGS, BATCH_DAYS)
    assert found.schema == pl.Schema({"reading_id": pl.String, "rows": pl.UInt32})
    assert found.rows() == [("2026-02-03-1", 3), ("2026-02-04-0", 2)]
    assert duplicate_keys(refined, READINGS, BATCH_DAYS[1:2]).is_empty()  # day 2 wrote none


def test_duplicate_keys_of_no_batch_is_empty_even_where_silver_holds_duplicates(
    refined: Catalog,
) -> None:
    _copy(refined, "2026-02-01-0", BATCH_DAYS[0])
    found = duplicate_keys(refined, READINGS, [])
    assert found.schema == pl.Schema({"reading_id": pl.String, "rows": pl.UInt32})
    assert found.is_empty()
    assert duplicate_keys(refined, READINGS, BATCH_DAYS).rows() == [("2026-02-01-0", 2)]


# ensure_silver_tables

def test_the_silver_tables_are_registered_with_their_owner_comment_tags_and_column_docs(
    catalog: Catalog,
) -> None:
    """Silver: the source's owner and description, layer `silver`, the contract's column
    comments and tags (customers: `email` is `pii`); the quarantine: the same owner, layer and
    column tags, and a comment saying what it holds (column comments only on silver)."""
    customers = DOMAIN.source("customers")
    comments, tags = customers.column_docs()
    assert tags == {"email": ["pii"]} and "customer_id" in comments  # what is checked below
    ensure_silver_tables(catalog, customers)
    assert catalog.describe(customers.silver_table).info == TableInfo(
        owner="team:data-eng", comment=customers.description, tags={"layer": "silver"},
        column_tags=tags, column_comments=comments)
    assert catalog.describe(customers.quarantine_table).info == TableInfo(
        owner="team:data-eng", tags={"layer": "silver"}, column_tags=tags,
        comment="customers rows refused by the contract, as landed, with the rules they broke.")


# refine's report: the sum of its steps

def test_the_report_sums_every_step(
    settings: Settings, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three batches refined in three steps (a bound of one row): day 1 inserts r1 and r2 and
    refuses one row; day 2 collapses r1's v2 into its v3, updates r1 and refuses two; day 3
    updates r2, inserts r3 and refuses four. The report is the sum of the steps (the last step
    alone collapsed nothing and updated one), silver's version the one after the third
    MERGE, the sample the first five of the seven rejects, in batch then line order."""
    day3 = BATCH_DAYS[2]
    land(settings.landing, DAY1, [reading("r1"), reading("r2"), reading("b1", celsius=200.0)])
    land(settings.landing, DAY2, [reading("r1", 2), reading("r1", 3),
                                  reading("b2", celsius=-60.0), reading("b3", celsius=151.0)])
    land(settings.landing, day3, [reading("r2", 2), reading("r3"),
                                  *(reading(f"b{i}", celsius=300.0) for i in range(4, 8))])
    ingest(catalog, READINGS, settings.landing, [DAY1, DAY2, day3])
    monkeypatch.setattr(silver, "ROWS_PER_STEP", 1)
    report = refine(catalog, READINGS, [DAY1, DAY2, day3])
    assert (report.read, report.valid, report.quarantined, report.collapsed_in_run,
            report.inserted, report.updated) == (13, 6, 7, 1, 3, 2)
    assert report.silver_version == catalog.version(READINGS.silver_table) == 3
    assert report.quarantine_sample.select("reading_id", "_batch_id").rows() == [
        ("b1", DAY1), ("b2", DAY2), ("b3", DAY2), ("b4", day3), ("b5", day3)]
