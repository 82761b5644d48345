"""Silver tables whose rows are updated in place keep bounded files (`delta.targetFileSize`,
`silver.silver_properties`), so a one-day refresh's MERGE rewrites the few files of the day's
time range, not the history (issue 15); maintenance clusters them by event time so that stays
true after OPTIMIZE. Real Delta tables, through bronze and `refine`; the files are made small
(TARGET_FILE_SIZE lowered) so a few thousand rows make several."""

from __future__ import annotations

import dataclasses
import random
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.config import Settings
from lakehouse_ml.ingest.bronze import ingest
from lakehouse_ml.medallion import silver
from lakehouse_ml.medallion.maintenance import zorder_columns
from lakehouse_ml.medallion.silver import ensure_silver_tables, refine, silver_properties
from lakehouse_ml.medallion.spec import Source
from tests.boundary_domain import READINGS, SENSORS, land, reading

PROPERTY = "delta.targetFileSize"
SMALL = 4 << 10
"""A test-sized target: delta-rs splits at ~1,000 rows: 12,000 readings make a dozen files."""
UPDATED = dataclasses.replace(READINGS, event_time_immutable=True)
"""Readings re-sent with a higher `version` (sequence_by): rows updated in place; their time
is immutable, so the MERGE reads only the batch's time range."""
INSERT_ONLY = dataclasses.replace(UPDATED, sequence_by=None)
"""The same feed declared without versions: no property, delta-rs' default layout."""
DAYS = [(date(2026, 1, 1) + timedelta(days=n)).isoformat() for n in range(40)]
PER_DAY = 300
REFRESH_DAY = "2026-02-10"


@pytest.fixture(autouse=True)
def small_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(silver, "TARGET_FILE_SIZE", SMALL)


def _id(rng: random.Random) -> str:
    """A key that does not follow time: only the time filter can prune files."""
    return f"r{rng.getrandbits(64):016x}"


def _land_history(landing: Path) -> dict[str, list[str]]:
    """PER_DAY new readings on each of DAYS, one an hour-ish; returns each day's ids."""
    rng = random.Random(7)
    ids: dict[str, list[str]] = {}
    for day in DAYS:
        ids[day] = [_id(rng) for _ in range(PER_DAY)]
        land(landing, day, [reading(key, 1, 20.0 + n % 7, at=f"{day}T{n % 24:02d}:{n % 60:02d}:00Z")
                            for n, key in enumerate(ids[day])])
    return ids


def _land_refresh(landing: Path, day: str, updated: list[str], previous: str) -> None:
    """A daily batch on `day`: version 2 of `updated` (readings of `previous`, same time) and
    30 new readings of `day`."""
    rng = random.Random(day)
    rows = [reading(key, 2, 30.0, at=f"{previous}T{n % 24:02d}:{n % 60:02d}:00Z")
            for n, key in enumerate(updated)]
    rows += [reading(_id(rng), 1, 21.0, at=f"{day}T{n % 24:02d}:30:00Z") for n in range(30)]
    land(landing, day, rows)


def _refresh(catalog: Catalog, landing: Path, source: Source, day: str) -> dict:
    ingest(catalog, source, str(landing), [day])
    report = refine(catalog, source, [day])
    assert report.updated == 30 and report.inserted == 30
    (latest,) = catalog.history(source.silver_table, 1)
    assert latest["operation"] == "MERGE"
    return latest["operationMetrics"]


def _files(catalog: Catalog, table: str) -> int:
    return len(catalog.lake.table(catalog.location(table)).file_uris())


def _backfilled(catalog: Catalog, landing: Path, source: Source) -> None:
    ingest(catalog, source, str(landing), DAYS)
    refine(catalog, source, DAYS)  # one step: one MERGE writes the whole history


def test_a_one_day_refresh_rewrites_only_the_files_of_its_days(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    """The backfill writes bounded files; the next day's MERGE, updating 30 readings of the
    last day, copies a small share of the table (with one file: all of it), and silver holds
    the same rows as the same feed in the default layout."""
    landing = Path(settings.landing)
    ids = _land_history(landing)
    _land_refresh(landing, REFRESH_DAY, ids[DAYS[-1]][:30], DAYS[-1])
    _backfilled(catalog, landing, UPDATED)
    table = UPDATED.silver_table
    config = catalog.lake.table(catalog.location(table)).metadata().configuration
    assert config[PROPERTY] == str(SMALL) == silver_properties(UPDATED)[PROPERTY]
    assert silver_properties(INSERT_ONLY) == {}
    assert _files(catalog, table) >= 4

    metrics = _refresh(catalog, landing, UPDATED, REFRESH_DAY)
    rows = len(DAYS) * PER_DAY
    assert metrics["num_target_rows_updated"] == 30
    assert metrics["num_target_rows_copied"] < rows // 6, metrics  # a file or two of 13

    other = Catalog(str(tmp_path / "default_layout"), settings.env)
    _backfilled(other, landing, INSERT_ONLY)
    assert PROPERTY not in other.lake.table(other.location(table)).metadata().configuration
    whole = _refresh(other, landing, INSERT_ONLY, REFRESH_DAY)
    assert whole["num_target_rows_copied"] == rows - 30  # one file: the history is copied
    columns = [*UPDATED.schema, "_batch_id", "_line"]
    ours = catalog.read(table).select(columns).sort("reading_id")
    assert ours.equals(other.read(table).select(columns).sort("reading_id"))
    assert ours.height == rows + 30
    assert ours.filter(pl.col("version") == 2)["reading_id"].sort().to_list() == sorted(
        ids[DAYS[-1]][:30])


def test_an_existing_table_gets_the_property_once_and_its_next_merge_bounds_it(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    """A silver table created before the property (one file after its backfill) gets it from
    `ensure_silver_tables`, in one commit, and no commit on later calls; the refresh's MERGE
    then rewrites the one file into bounded files."""
    landing = Path(settings.landing)
    ids = _land_history(landing)
    _land_refresh(landing, REFRESH_DAY, ids[DAYS[-1]][:30], DAYS[-1])
    table = UPDATED.silver_table
    catalog.create_table(table, silver.silver_schema(UPDATED), TableInfo(owner="t"))
    scratch = Catalog(str(tmp_path / "scratch"), settings.env)
    _backfilled(scratch, landing, INSERT_ONLY)  # silver rows as the backfill refines them
    ingest(catalog, UPDATED, str(landing), DAYS)
    catalog.merge(table, scratch.read(table), keys=["reading_id"])  # as before: one file
    assert _files(catalog, table) == 1
    uri = catalog.location(table)
    before = catalog.version(table)

    ensure_silver_tables(catalog, UPDATED)
    assert catalog.version(table) == before + 1
    assert catalog.lake.table(uri).metadata().configuration[PROPERTY] == str(SMALL)
    assert catalog.history(table, 1)[0]["operation"] == "SET TBLPROPERTIES"
    ensure_silver_tables(catalog, UPDATED)
    ensure_silver_tables(catalog, UPDATED)
    assert catalog.version(table) == before + 1  # already set: no commit

    _refresh(catalog, landing, UPDATED, REFRESH_DAY)
    assert _files(catalog, table) >= 10
    metrics = _refresh_again(catalog, landing)
    assert metrics["num_target_rows_copied"] < len(DAYS) * PER_DAY // 6, metrics


def _refresh_again(catalog: Catalog, landing: Path) -> dict:
    """The refresh day's batch re-sent with version 3 of its updates: another one-day MERGE."""
    updated = catalog.read(UPDATED.silver_table).filter(pl.col("version") == 2)
    assert updated.height == 30
    again = (updated["reading_id"].to_list(), updated["measured_at"].to_list())
    day = (date.fromisoformat(REFRESH_DAY) + timedelta(days=1)).isoformat()
    land(landing, day, [reading(key, 3, 31.0, at=at.strftime("%Y-%m-%dT%H:%M:%SZ"))
                        for key, at in zip(*again, strict=True)]
         + [reading(f"new-{n}", 1, 21.0, at=f"{day}T05:00:00Z") for n in range(30)])
    return _refresh(catalog, landing, UPDATED, day)


def test_maintenance_clusters_updated_silver_by_event_time_and_keeps_bounded_files(
    settings: Settings, catalog: Catalog
) -> None:
    """OPTIMIZE with the maintenance plan's columns keeps the property's file size and lays
    the files out by time, so a one-day MERGE after it still copies a small share (clustered
    by these keys, which do not follow time, it would copy nearly all)."""
    landing = Path(settings.landing)
    ids = _land_history(landing)
    _land_refresh(landing, REFRESH_DAY, ids[DAYS[-1]][:30], DAYS[-1])
    _backfilled(catalog, landing, UPDATED)
    table = UPDATED.silver_table
    before = catalog.read(table).sort("reading_id")
    plan = zorder_columns(dataclasses.replace(SENSORS, sources=(UPDATED,)))
    assert plan[table] == ("measured_at",)

    catalog.optimize(table, plan[table])

    assert catalog.history(table, 1)[0]["operation"] == "OPTIMIZE"
    assert catalog.read(table).sort("reading_id").equals(before)
    assert _files(catalog, table) >= 10  # delta.targetFileSize, not delta-rs' 100 MB
    _refresh(catalog, landing, UPDATED, REFRESH_DAY)
    metrics = _refresh_again(catalog, landing)
    assert metrics["num_target_rows_copied"] < len(DAYS) * PER_DAY // 6, metrics
