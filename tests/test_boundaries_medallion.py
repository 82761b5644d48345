"""Correctness boundaries of ingest, silver, reconciliation, MERGE and schema enforcement, each
asserted as an exact value (issue 8: each of these broke without any test failing)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.config import Settings
from lakehouse_ml.ingest.bronze import ensure_bronze_tables, ingest
from lakehouse_ml.lake import SchemaMismatchError
from lakehouse_ml.lake.predicates import later_or_same
from lakehouse_ml.medallion.reconcile import reconcile
from lakehouse_ml.medallion.silver import refine
from tests.boundary_domain import DAY1, DAY2, READINGS, land, reading


def run_day(catalog: Catalog, settings: Settings, day: str) -> None:
    ingest(catalog, READINGS, settings.landing, [day])
    refine(catalog, READINGS, [day])


def silver_rows(catalog: Catalog) -> dict[str, tuple[int, float]]:
    frame = catalog.read(READINGS.silver_table)
    return {r["reading_id"]: (r["version"], r["celsius"]) for r in frame.iter_rows(named=True)}


# MERGE: `update_when` (lake/tables.py)

@pytest.mark.parametrize("first", [DAY1, DAY2])
def test_merge_older_version_never_overwrites_newer_whatever_the_arrival_order(
    settings: Settings, catalog: Catalog, first: str
) -> None:
    """r1 v2 lands on day 1 and its older v1 late, on day 2; r2 the other way round. Whichever
    day is refined first, silver keeps each key's greatest version."""
    land(settings.landing, DAY1, [reading("r1", 2, 22.0), reading("r2", 1, 10.0)])
    land(settings.landing, DAY2, [reading("r1", 1, 11.0), reading("r2", 2, 20.0)])
    second = DAY2 if first == DAY1 else DAY1

    run_day(catalog, settings, first)
    run_day(catalog, settings, second)

    assert silver_rows(catalog) == {"r1": (2, 22.0), "r2": (2, 20.0)}


def test_merge_equal_versions_go_to_the_later_batch_whatever_the_arrival_order(
    settings: Settings, catalog: Catalog
) -> None:
    land(settings.landing, DAY1, [reading("r1", 1, 1.0)])
    land(settings.landing, DAY2, [reading("r1", 1, 2.0)])
    run_day(catalog, settings, DAY2)
    run_day(catalog, settings, DAY1)
    assert silver_rows(catalog) == {"r1": (1, 2.0)}


def test_catalog_merge_replaces_only_where_update_when_holds(catalog: Catalog) -> None:
    catalog.create_table("silver.kv", pl.Schema({"k": pl.Int64, "seq": pl.Int64,
                                                 "v": pl.String}), TableInfo(owner="t"))
    catalog.append("silver.kv", pl.DataFrame({"k": [1, 2], "seq": [5, 5], "v": ["a", "b"]}))
    update_when = later_or_same(["seq"])
    metrics = catalog.merge("silver.kv", pl.DataFrame({"k": [1, 2, 3], "seq": [4, 6, 1],
                                                      "v": ["old", "new", "c"]}),
                            keys=["k"], update_when=update_when)
    assert (metrics["num_target_rows_updated"], metrics["num_target_rows_inserted"]) == (1, 1)
    assert catalog.read("silver.kv").sort("k").rows() == [(1, 5, "a"), (2, 6, "new"),
                                                          (3, 1, "c")]


# Silver dedup order: (sequence, batch, file, line) (medallion/silver.py)

def test_dedup_ties_on_sequence_and_batch_go_to_the_later_file_then_the_later_line(
    catalog: Catalog,
) -> None:
    """Bronze rows stored out of (file, line) order: the winner is still the greatest
    (file, line), not the last row read."""
    ensure_bronze_tables(catalog, READINGS)
    rows = [  # (record, file, line, celsius): physical order is the adversary
        ("r1", "readings/d/b.jsonl", 1, 1.0), ("r1", "readings/d/a.jsonl", 9, 2.0),
        ("r2", "readings/d/a.jsonl", 3, 3.0), ("r2", "readings/d/a.jsonl", 2, 4.0),
    ]
    bronze = pl.DataFrame({
        "reading_id": [r for r, *_ in rows], "version": ["1"] * 4,
        "measured_at": [f"{DAY1}T01:00:00Z"] * 4, "celsius": [str(c) for *_, c in rows],
        "_source_file": [f for _, f, _, _ in rows], "_line": [n for _, _, n, _ in rows],
        "_record_id": [f"{f}#{n}" for _, f, n, _ in rows], "_batch_id": [DAY1] * 4,
    })
    catalog.append(READINGS.bronze_table, bronze)

    report = refine(catalog, READINGS, [DAY1])

    assert report.collapsed_in_run == 2
    silver = catalog.read(READINGS.silver_table).sort("reading_id")
    assert silver.select("reading_id", "_record_id", "celsius").rows() == [
        ("r1", "readings/d/b.jsonl#1", 1.0), ("r2", "readings/d/a.jsonl#3", 3.0)]


# Conservation: collapsed duplicates vs lost rows (medallion/reconcile.py)

def test_conservation_tells_collapsed_duplicates_from_lost_rows(
    settings: Settings, catalog: Catalog
) -> None:
    land(settings.landing, DAY1, [reading("r1", 1), reading("r1", 2), reading("r2"),
                                  reading("r3"), reading("r4", celsius=999.0)])
    run_day(catalog, settings, DAY1)
    counts = ["landed", "parse_rejected", "quarantined", "in_silver", "collapsed", "lost",
              "balanced"]

    assert reconcile(catalog, READINGS, [DAY1]).select(counts).row(0) == (5, 0, 1, 3, 1, 0, True)

    catalog.delete(READINGS.silver_table, "reading_id = 'r3'")  # a row lost after the fact

    assert reconcile(catalog, READINGS, [DAY1]).select(counts).row(0) == (
        5, 0, 1, 2, 1, 1, False)


# Landing: line numbers in rejects and lineage (ingest/landing.py)

def test_csv_rejects_and_bronze_lineage_name_the_physical_line(
    settings: Settings, catalog: Catalog
) -> None:
    csv_source = replace(READINGS, format="csv")
    folder = Path(settings.landing) / "readings" / DAY1
    folder.mkdir(parents=True)
    (folder / "part-0.csv").write_text(
        "reading_id,version,measured_at,celsius\n"
        f"r1,1,{DAY1}T01:00:00Z,1.0\n"
        "broken line\n"
        f"r2,1,{DAY1}T02:00:00Z,2.0\n"
    )

    report = ingest(catalog, csv_source, settings.landing, [DAY1])

    assert (report.lines, report.records, report.rejected) == (3, 2, 1)
    file = f"readings/{DAY1}/part-0.csv"
    assert catalog.read(csv_source.rejects_table).select("_line", "_record_id").rows() == [
        (3, f"{file}#3")]
    bronze = catalog.read(csv_source.bronze_table).sort("_line")
    assert bronze.select("reading_id", "_line", "_record_id").rows() == [
        ("r1", 2, f"{file}#2"), ("r2", 4, f"{file}#4")]


def test_jsonl_rejects_and_bronze_lineage_name_the_physical_line(
    settings: Settings, catalog: Catalog
) -> None:
    folder = Path(settings.landing) / "readings" / DAY1
    folder.mkdir(parents=True)
    (folder / "part-0.jsonl").write_text('{"reading_id": "r1"}\n[1]\n{"reading_id": "r3"}\n')
    (folder / "part-1.jsonl").write_text('{"reading_id": "c1"}\n{"reading_id": "c2"}\n')  # clean

    ingest(catalog, READINGS, settings.landing, [DAY1])

    file = f"readings/{DAY1}/part-0.jsonl"
    assert catalog.read(READINGS.rejects_table).select("_line", "_record_id").rows() == [
        (2, f"{file}#2")]
    bronze = catalog.read(READINGS.bronze_table).sort("_record_id")
    assert bronze.select("reading_id", "_line", "_record_id").rows() == [
        ("r1", 1, f"{file}#1"), ("r3", 3, f"{file}#3"),
        ("c1", 1, f"readings/{DAY1}/part-1.jsonl#1"), ("c2", 2, f"readings/{DAY1}/part-1.jsonl#2")]


# Schema enforcement: only lossless widenings (lake/schema.py)

NUMERIC = pl.Schema({"i64": pl.Int64, "i32": pl.Int32, "f64": pl.Float64, "f32": pl.Float32})


@pytest.fixture
def numbers(catalog: Catalog) -> Catalog:
    catalog.create_table("silver.numbers", NUMERIC, TableInfo(owner="t"))
    return catalog


@pytest.mark.parametrize(("column", "dtype"), [
    ("i64", pl.Float64), ("i64", pl.Float32),
    ("i32", pl.Int64), ("i32", pl.UInt32), ("i32", pl.Float32),
    ("f64", pl.Int64), ("f64", pl.UInt64), ("f32", pl.Float64), ("f32", pl.Int32),
])
def test_a_numeric_type_change_that_can_lose_values_is_refused(
    numbers: Catalog, column: str, dtype: pl.DataType
) -> None:
    before = numbers.version("silver.numbers")
    with pytest.raises(SchemaMismatchError, match=rf"dev\.silver\.numbers.*'{column}'"):
        numbers.append("silver.numbers", pl.DataFrame({column: pl.Series([1], dtype=dtype)}))
    assert numbers.version("silver.numbers") == before


@pytest.mark.parametrize(("column", "dtype", "value"), [
    ("i64", pl.Int32, 2**31 - 1), ("i64", pl.UInt32, 2**32 - 1), ("i32", pl.Int16, -2**15),
    ("f64", pl.Float32, 0.5), ("f64", pl.Int32, -2**31),
])
def test_a_lossless_widening_is_accepted_value_for_value(
    numbers: Catalog, column: str, dtype: pl.DataType, value: float
) -> None:
    numbers.append("silver.numbers", pl.DataFrame({column: pl.Series([value], dtype=dtype)}))
    stored = numbers.read("silver.numbers")
    assert stored.schema == NUMERIC
    assert stored[column].to_list() == [value]


def test_a_key_that_includes_the_immutable_event_time_refines_twice(
    settings: Settings, catalog: Catalog
) -> None:
    """Like churn labels: the event time is part of the primary key (moves cannot happen)."""
    labels = replace(READINGS, primary_key=("reading_id", "measured_at"), sequence_by=None,
                     event_time_immutable=True)
    land(settings.landing, DAY1, [reading("r1", celsius=1.0), reading("r2")])
    land(settings.landing, DAY2, [reading("r1", celsius=3.0)])
    for day in (DAY1, DAY2):
        ingest(catalog, labels, settings.landing, [day])
        refine(catalog, labels, [day])
    assert silver_rows(catalog) == {"r1": (1, 3.0), "r2": (1, 20.0)}
