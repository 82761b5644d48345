"""Which landed batches each table has processed (`medallion.progress`), its functions called
directly as `make mutation` (group feature-state) mutates them: the sources feeding a table,
the marks of a bronze table (its manifest's latest ingestion per batch), the marks a table
recorded (those from the future ignored and logged), the earliest mark of the inputs covering
a source (kept only where every such input has one), what a table has left to do (a mark
later than its inputs' ignored and logged), the note naming the rows that made a run skip a
batch, and what `mark_processed` writes. Real Delta tables in a temporary lakehouse, no
Dagster (tests/test_progress_marks.py checks the same through the sensors domain's runs)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.medallion import progress
from lakehouse_ml.medallion.progress import MARKS, TABLE, Pending
from lakehouse_ml.medallion.spec import Domain, FeatureTableSpec
from tests.boundary_domain import HOTTEST, READINGS

ALARMS = replace(READINGS, name="alarms")
BOTH = replace(HOTTEST, name="both", inputs=("readings", "alarms"))
CONSTANT = replace(HOTTEST, name="constant", inputs=())  # fed by no source


def spec(name: str, *inputs: str) -> FeatureTableSpec:
    return FeatureTableSpec(name, "Features.", ("reading_id",), "ts", inputs,
                            lambda frames, days: pl.LazyFrame(), ())


FEAT = spec("feat", "silver.readings", "gold.hottest")
MIXED = spec("mixed", "silver.alarms", "gold.hottest")
LOST = spec("lost", "silver.readings", "silver.unknown")
DOMAIN = Domain(name="sensors", description="Sensors.", start_date=datetime(2026, 1, 1).date(),
                sources=(READINGS, ALARMS), aggregates=(HOTTEST, BOTH, CONSTANT),
                feature_tables=(FEAT, MIXED, LOST))
T0 = datetime(2026, 1, 1, tzinfo=UTC)
B1, B2, B3, B4, B5 = "2026-02-01", "2026-02-02", "2026-02-03", "2026-02-04", "2026-02-05"
LOGGER = "lakehouse_ml.medallion.progress"


def t(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def marks(*rows: tuple[str, str, datetime]) -> pl.DataFrame:
    return pl.DataFrame([dict(zip(MARKS.names(), r, strict=True)) for r in rows], schema=MARKS)


def record(catalog: Catalog, table: str, *rows: tuple[str, str, datetime]) -> None:
    """`table` caught up with `rows` (source, batch, mark), written by `mark_processed`."""
    progress.mark_processed(catalog, Pending(table, sorted({r[1] for r in rows}), marks(*rows)))


def manifest(catalog: Catalog, rows: dict[str, list[datetime]]) -> None:
    """readings' bronze manifest: a file ingested at each time of each batch."""
    frame = pl.DataFrame([{"batch_id": b, "ingested_at": m} for b, ms in rows.items() for m in ms],
                         schema={"batch_id": pl.String, "ingested_at": MARKS["ingested_at"]})
    catalog.create_table(READINGS.manifest_table, frame.schema, TableInfo(owner="team:data-eng"))
    catalog.append(READINGS.manifest_table, frame)


def table(catalog: Catalog, name: str) -> None:
    catalog.create_table(name, pl.Schema({"x": pl.Int64}), TableInfo(owner="team:data-eng"))


def test_feeding_sources_of_each_kind_of_table() -> None:
    for name in ("bronze.readings", "silver.readings"):
        assert progress.feeding_sources(DOMAIN, name) == {"readings"}
    assert progress.feeding_sources(DOMAIN, "silver.alarms") == {"alarms"}
    assert progress.feeding_sources(DOMAIN, "gold.hottest") == {"readings"}
    assert progress.feeding_sources(DOMAIN, "gold.both") == {"readings", "alarms"}
    assert progress.feeding_sources(DOMAIN, "gold.feat") == {"readings"}
    assert progress.feeding_sources(DOMAIN, "gold.mixed") == {"readings", "alarms"}
    assert progress.feeding_sources(DOMAIN, "gold.lost") is None  # reads an undeclared table
    assert progress.feeding_sources(DOMAIN, "gold.unknown") is None


def test_mark_processed_writes_nothing_for_no_marks_and_else_the_marks_and_when(
        catalog: Catalog) -> None:
    progress.mark_processed(catalog, Pending("dev.gold.hottest", [B1], marks()))
    assert not catalog.exists(TABLE)

    before = datetime.now(UTC)
    record(catalog, "dev.gold.hottest", ("readings", B1, t(1)), ("readings", B2, t(2)))
    info = catalog.describe(TABLE).info
    assert info.owner == "team:data-eng" and info.tags == {"layer": "pipeline"}
    assert info.comment == ("Landed batches each table has processed, up to the ingestion time "
                            "of their latest content (a re-run with nothing new writes nothing).")
    stored = catalog.read(TABLE).sort("batch_id")
    assert stored.schema == progress.PROGRESS
    assert stored.drop("processed_at").rows() == [("dev.gold.hottest", "readings", B1, t(1)),
                                                  ("dev.gold.hottest", "readings", B2, t(2))]
    assert all(before <= at <= datetime.now(UTC) for at in stored["processed_at"])


@pytest.fixture
def new_york_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone is New York (UTC-5 in December) for the test."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_processed_at_is_the_time_now_on_a_host_whose_local_zone_is_not_utc(
        catalog: Catalog, new_york_host: None) -> None:
    before = datetime.now(UTC)
    record(catalog, "dev.gold.hottest", ("readings", B1, t(1)))
    at = catalog.read(TABLE)["processed_at"].item()
    assert before <= at <= datetime.now(UTC), (before, at)


def test_landed_marks_are_the_manifests_latest_ingestion_of_each_batch_asked(
        catalog: Catalog) -> None:
    none = progress._landed_marks(catalog, READINGS, [B1]).collect()  # no manifest yet
    assert none.is_empty() and none.schema == MARKS
    assert progress.pending_refinement(catalog, READINGS, [B1]).marks.is_empty()
    manifest(catalog, {B1: [t(5), t(9), t(7)], B2: [t(3)], B3: [t(4)]})
    found = progress._landed_marks(catalog, READINGS, [B1, B2]).collect().sort("batch_id")
    assert_frame_equal(found, marks(("readings", B1, t(9)), ("readings", B2, t(3))))
    assert progress._landed(catalog, DOMAIN, "bronze.readings", [B3]).collect().rows() == [
        ("readings", B3, t(4))]
    assert progress._landed(catalog, DOMAIN, "silver.readings", [B3]) is None


def test_pending_refinement_is_what_silver_has_not_refined_since_landed(
        catalog: Catalog) -> None:
    manifest(catalog, {B1: [t(5)], B2: [t(6)], B3: [t(7)]})
    todo = progress.pending_refinement(catalog, READINGS, [B3, B1, B2])
    assert todo.table == "dev.silver.readings" and todo.batches == [B1, B2, B3]  # no silver yet
    table(catalog, "silver.readings")
    record(catalog, "dev.silver.readings", ("readings", B1, t(5)), ("readings", B2, t(1)))
    todo = progress.pending_refinement(catalog, READINGS, [B3, B1, B2])
    assert todo.batches == [B2, B3]
    assert_frame_equal(todo.marks.sort("batch_id"),
                       marks(("readings", B2, t(6)), ("readings", B3, t(7))))


def test_recorded_marks_from_the_future_are_ignored_and_logged(
        catalog: Catalog, caplog: pytest.LogCaptureFixture) -> None:
    assert progress._recorded(catalog, "dev.gold.hottest", [B1]).is_empty()
    now = datetime.now(UTC)
    near, far = now + timedelta(minutes=3), now + timedelta(minutes=30)
    record(catalog, "dev.gold.hottest", ("readings", B1, now - timedelta(minutes=1)),
           ("readings", B2, near), ("readings", B3, far), ("alarms", B4, t(1)))
    record(catalog, "dev.gold.both", ("readings", B1, t(2)))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        found = progress._recorded(catalog, "dev.gold.hottest", [B1, B2, B3])
    assert sorted(found.rows()) == [("readings", B1, now - timedelta(minutes=1)),
                                    ("readings", B2, near)]
    assert caplog.messages == [
        f"dev.gold.hottest: ignored its mark in {TABLE} for source readings, batch {B3}: "
        f"ingested_at {far.isoformat()} is later than now (+0:05:00) (the batch is processed "
        "as if it were not recorded; delete the row to stop this warning)"]


def test_skipped_note_names_the_latest_trusted_mark_of_each_batch(catalog: Catalog) -> None:
    assert progress.skipped_note(catalog, "gold.hottest", []) is None
    assert progress.skipped_note(catalog, "gold.hottest", [B1]) is None  # nothing recorded
    record(catalog, "dev.gold.hottest", ("readings", B2, t(3)), ("readings", B2, t(8)),
           ("alarms", B2, t(4)), ("readings", B1, t(2)), ("readings", B3, t(1)))
    assert progress.skipped_note(catalog, "gold.hottest", [B4]) is None
    note = progress.skipped_note(catalog, "gold.hottest", [B2, B1])
    assert note == (  # sorted by source, then batch
        f"skipped as already processed: {TABLE} records dev.gold.hottest caught up with "
        f"source alarms, batch {B2}, ingested_at {t(4).isoformat()}; source readings, batch "
        f"{B1}, ingested_at {t(2).isoformat()}; source readings, batch {B2}, ingested_at "
        f"{t(8).isoformat()}. If dev.gold.hottest never took that content, the row is wrong: "
        f"delete it from {TABLE} and the next run processes the batch again.")


def test_upstream_is_the_earliest_mark_of_the_inputs_covering_a_source_where_all_have_one(
        catalog: Catalog) -> None:
    record(catalog, "dev.silver.readings", ("readings", B1, t(5)), ("readings", B2, t(6)),
           ("readings", B3, t(7)), ("alarms", B1, t(1)))  # not a source silver.readings covers
    record(catalog, "dev.gold.hottest", ("readings", B1, t(4)), ("readings", B2, t(9)))
    record(catalog, "dev.silver.alarms", ("alarms", B1, t(3)))
    up = progress._upstream(catalog, DOMAIN, ["dev.silver.readings", "gold.hottest"],
                            [B1, B2, B3])
    assert_frame_equal(up, marks(("readings", B1, t(4)), ("readings", B2, t(6))))  # B3: one
    up = progress._upstream(catalog, DOMAIN, ["silver.alarms", "gold.hottest"], [B1, B2])
    assert_frame_equal(up, marks(("alarms", B1, t(3)), ("readings", B1, t(4)),
                                 ("readings", B2, t(9))))
    assert progress._upstream(catalog, DOMAIN, ["silver.readings", "silver.unknown"],
                              [B1]) is None
    assert progress._upstream(catalog, DOMAIN, [], [B1]) is None


def test_upstream_of_a_bronze_input_is_its_manifests_marks(catalog: Catalog) -> None:
    manifest(catalog, {B1: [t(5), t(8)], B2: [t(6)]})
    up = progress._upstream(catalog, DOMAIN, ["bronze.readings"], [B1, B2])
    assert_frame_equal(up, marks(("readings", B1, t(8)), ("readings", B2, t(6))))


def test_pending_is_every_batch_whose_inputs_moved_past_the_tables_trusted_mark(
        catalog: Catalog, caplog: pytest.LogCaptureFixture) -> None:
    inputs = ["silver.readings"]
    record(catalog, "dev.silver.readings", ("readings", B1, t(5)), ("readings", B2, t(6)),
           ("readings", B3, t(7)), ("readings", B4, t(8)), ("readings", B5, t(9)))
    todo = progress.pending(catalog, DOMAIN, "gold.hottest", inputs, [B2, B1, B2])
    assert todo.table == "dev.gold.hottest" and todo.batches == [B1, B2]  # no table: all
    assert_frame_equal(todo.marks, marks(("readings", B1, t(5)), ("readings", B2, t(6))))

    table(catalog, "gold.hottest")
    record(catalog, "dev.gold.hottest",
           ("readings", B1, t(5)),  # caught up
           ("readings", B2, t(2)),  # behind its input
           ("readings", B4, t(20)),  # ahead of its input: ignored
           ("readings", B5, t(3)), ("readings", B5, t(9)))  # caught up by its latest mark
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        todo = progress.pending(catalog, DOMAIN, "gold.hottest", inputs, [B1, B2, B3, B4, B5])
    assert todo.table == "dev.gold.hottest" and todo.batches == [B2, B3, B4]  # B3: never done
    assert_frame_equal(todo.marks, marks(("readings", B2, t(6)), ("readings", B3, t(7)),
                                         ("readings", B4, t(8))))
    assert caplog.messages == [
        f"dev.gold.hottest: ignored its mark in {TABLE} for source readings, batch {B4}: "
        f"ingested_at {t(20).isoformat()} is later than its inputs' mark of the batch (the "
        "batch is processed as if it were not recorded; delete the row to stop this warning)"]


def test_pending_of_a_table_reading_an_undeclared_input_is_every_batch_without_marks(
        catalog: Catalog) -> None:
    table(catalog, "gold.lost")
    record(catalog, "dev.gold.lost", ("readings", B1, t(1)))
    todo = progress.pending(catalog, DOMAIN, "gold.lost", ["silver.unknown"], [B2, B1, B1])
    assert todo.table == "dev.gold.lost" and todo.batches == [B1, B2]
    assert_frame_equal(todo.marks, marks())


def test_a_table_reading_only_inputs_fed_by_no_source_has_no_batch_to_catch_up(
        catalog: Catalog) -> None:
    record(catalog, "dev.gold.constant", ("readings", B1, t(1)))  # no source it covers
    todo = progress.pending(catalog, DOMAIN, "gold.feat", ["gold.constant"], [B1, B2])
    assert todo.batches == [B1, B2] and todo.marks.is_empty()  # the table is not there yet
    table(catalog, "gold.feat")
    todo = progress.pending(catalog, DOMAIN, "gold.feat", ["gold.constant"], [B1, B2])
    assert todo.batches == [] and todo.marks.is_empty()
