"""A mark in `pipeline.progress` the data cannot have produced is not trusted (stranger11c
finding 2): one row (forged, or from a clock gone wrong) never leaves a day stale for good nor
fails silver's conservation, and a conservation failure of a batch skipped as processed names
the progress row that said so. A mark later than now (plus the clock skew allowed) is ignored
wherever it is read; a table's mark later than its inputs' mark of the batch is ignored when
deciding what the table has to do. Each is logged naming table, batch and mark. The sensors
boundary domain, real Delta tables, real Dagster runs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.ingest.bronze import ingest
from lakehouse_ml.medallion.progress import MARKS, Pending, mark_processed
from tests.boundary_domain import DAY1, READINGS, SENSORS, land, reading
from tests.conftest import materialize

SILVER, GOLD = "dev.silver.readings", "dev.gold.hottest"


def forge(catalog: Catalog, table: str, mark: datetime) -> None:
    """One progress row saying `table` caught up with DAY1 of readings up to `mark`."""
    mark_processed(catalog, Pending(table, [DAY1], pl.DataFrame(
        {"source": ["readings"], "batch_id": [DAY1], "ingested_at": [mark]}, schema=MARKS)))


def hottest(catalog: Catalog) -> float:
    return catalog.read("gold.hottest")["max_celsius"].item()


def land_hotter(settings: Settings) -> None:
    """Later content of DAY1: a reading hotter than the first."""
    land(settings.landing, DAY1, [reading("g2", celsius=30.0, at=f"{DAY1}T02:00:00Z")],
         file="part-1.jsonl")


def test_a_mark_from_the_future_is_ignored_naming_table_batch_and_mark(
        settings: Settings, catalog: Catalog, caplog: pytest.LogCaptureFixture) -> None:
    land(settings.landing, DAY1, [reading("g1", celsius=20.0)])
    materialize(settings, [DAY1], domain=SENSORS)
    far = datetime(2099, 1, 1, tzinfo=UTC)
    for table in (SILVER, GOLD):  # silver's failed its conservation; gold's froze the day
        forge(catalog, table, far)
    land_hotter(settings)

    with caplog.at_level(logging.WARNING, logger="lakehouse_ml.medallion.progress"):
        result = materialize(settings, [DAY1], domain=SENSORS, raise_on_error=False)

    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert result.success and checks["conservation"], checks
    assert catalog.read("silver.readings").height == 2 and hottest(catalog) == 30.0
    for table in (SILVER, GOLD):
        assert any(table in m and DAY1 in m and "2099-01-01T00:00:00+00:00" in m
                   and "later than now" in m for m in caplog.messages), caplog.messages


def test_a_mark_later_than_its_inputs_mark_is_ignored_and_the_batch_done_once(
        settings: Settings, catalog: Catalog, caplog: pytest.LogCaptureFixture) -> None:
    land(settings.landing, DAY1, [reading("g1", celsius=20.0)])
    materialize(settings, [DAY1], domain=SENSORS)
    ahead = datetime.now(UTC) + timedelta(minutes=4)  # within CLOCK_SKEW (5 min): not future
    forge(catalog, GOLD, ahead)
    land_hotter(settings)  # ingested before `ahead`

    with caplog.at_level(logging.WARNING, logger="lakehouse_ml.medallion.progress"):
        materialize(settings, [DAY1], domain=SENSORS)

    assert hottest(catalog) == 30.0
    assert any(GOLD in m and DAY1 in m and ahead.isoformat() in m
               and "later than its inputs' mark" in m for m in caplog.messages)
    version = catalog.version("gold.hottest")
    materialize(settings, [DAY1], domain=SENSORS)  # the batch is done: not redone again
    assert catalog.version("gold.hottest") == version


def test_a_conservation_failure_caused_by_a_progress_row_names_the_row(
        settings: Settings, catalog: Catalog) -> None:
    land(settings.landing, DAY1, [reading("g1", celsius=20.0)])
    materialize(settings, [DAY1], domain=SENSORS)
    land_hotter(settings)
    ingest(catalog, READINGS, settings.landing, [DAY1])  # bronze only: silver has not seen it
    mark = catalog.read(READINGS.manifest_table)["ingested_at"].max()
    forge(catalog, SILVER, mark)  # a mark the data supports in time, not in content

    result = materialize(settings, [DAY1], domain=SENSORS, raise_on_error=False)

    conservation = {e.check_name: e for e in result.get_asset_check_evaluations()
                    }["conservation"]
    assert not conservation.passed and conservation.description is not None
    for named in ("pipeline.progress", SILVER, f"batch {DAY1}", mark.isoformat(), "delete it"):
        assert named in conservation.description, (named, conservation.description)
