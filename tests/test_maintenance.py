"""Weekly maintenance: compaction and z-order keep contents, vacuum removes old files."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.config import Settings
from lakehouse_ml.definitions import defs
from lakehouse_ml.domains.churn.generator import GenerationReport
from tests.conftest import day_keys, materialize


def _parquet_files(catalog: Catalog, table: str) -> set[Path]:
    return set(Path(catalog.location(table)).glob("*.parquet"))


def test_weekly_maintenance_compacts_zorders_and_vacuums(
    settings: Settings, catalog: Catalog, landing: GenerationReport
) -> None:
    for day in day_keys()[:2]:  # a run per day: silver.events gets a file per run
        materialize(settings, [day])
    catalog.create_table("serving.notes", pl.Schema({"n": pl.Int64}), TableInfo(owner="t"))
    for n in range(3):  # like an inference log: one small file per flush
        catalog.append("serving.notes", pl.DataFrame({"n": [n]}))
    before = catalog.read("silver.events").sort("event_id")
    files_before = _parquet_files(catalog, "silver.events")
    assert len(files_before) > 1

    definitions = defs()
    forced = {"retention_hours": 0, "enforce_retention_duration": False}
    result = definitions.resolve_job_def("churn_weekly_maintenance").execute_in_process(
        run_config={"ops": {"churn_weekly_maintenance_tables": {"config": forced}}})

    assert result.success
    assert catalog.read("silver.events").sort("event_id").equals(before)
    files_after = _parquet_files(catalog, "silver.events")
    assert len(files_after) == 1 and not files_after & files_before
    assert "OPTIMIZE" in [h["operation"] for h in catalog.history("silver.events", 5)]
    # z-ordered by its event time alone (its MERGE prunes by time: `silver_clustering`), the
    # compacted file is laid out in time order
    assert pl.read_parquet(files_after.pop())["event_ts"].is_sorted()
    assert len(_parquet_files(catalog, "serving.notes")) > 1  # not the domain's: left alone
    catalog_wide = definitions.resolve_job_def("catalog_maintenance").execute_in_process(
        run_config={"ops": {"catalog_maintenance_tables": {"config": forced}}})
    assert catalog_wide.success
    assert len(_parquet_files(catalog, "serving.notes")) == 1  # ...until the catalog-wide job
    assert catalog.read("serving.notes")["n"].sort().to_list() == [0, 1, 2]


def test_retention_below_seven_days_is_refused_unless_forced(
    settings: Settings, catalog: Catalog
) -> None:
    catalog.create_table("serving.notes", pl.Schema({"n": pl.Int64}), TableInfo(owner="t"))
    for n in range(3):
        catalog.append("serving.notes", pl.DataFrame({"n": [n]}))
    catalog.overwrite("serving.notes", pl.DataFrame({"n": [9]}))
    files = _parquet_files(catalog, "serving.notes")
    job = defs().resolve_job_def("catalog_maintenance")

    refused = job.execute_in_process(raise_on_error=False, run_config={"ops": {
        "catalog_maintenance_tables": {"config": {"retention_hours": 0}}}})

    assert not refused.success
    (failure,) = [e for e in refused.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.to_string()
    assert "retention_hours=0" in message and "168" in message
    assert "enforce_retention_duration" in message
    assert _parquet_files(catalog, "serving.notes") == files  # nothing compacted or deleted
    assert "OPTIMIZE" not in [h["operation"] for h in catalog.history("serving.notes", 10)]
    with pytest.raises(Exception, match="168 hours"):  # the engine refuses it too, as Delta
        catalog.vacuum("serving.notes", 0)

    forced = job.execute_in_process(run_config={"ops": {"catalog_maintenance_tables": {
        "config": {"retention_hours": 0, "enforce_retention_duration": False}}}})

    assert forced.success
    assert len(_parquet_files(catalog, "serving.notes")) == 1
    assert catalog.read("serving.notes")["n"].to_list() == [9]
