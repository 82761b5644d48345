"""OpenLineage RunEvents for Dagster runs: a small pipeline (silver → gold with column lineage
and an asset check) materialized on a real instance, the code location's run status sensors
evaluated on its STARTED, SUCCESS and FAILURE events; the events file read back and each event
rebuilt with openlineage-python's classes (see test_openlineage)."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.metadata import lineage, table_metadata
from lakehouse_ml.defs.lineage_events import lineage_events
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.governance.openlineage import events_file
from tests.conftest import project_instance
from tests.governance.test_openlineage import rebuilt

SCHEMA = pl.Schema({"customer_id": pl.Int64, "revenue": pl.Float64})


def pipeline(fail: bool) -> list:
    @dg.asset(key=["silver", "sales"])
    def silver(lakehouse: LakehouseResource) -> dg.MaterializeResult:
        catalog = lakehouse.catalog()
        catalog.create_table("silver.sales", SCHEMA, TableInfo(owner="team:data-eng"))
        catalog.overwrite("silver.sales", pl.DataFrame({"customer_id": [1, 2],
                                                        "revenue": [3.0, 4.0]}))
        return dg.MaterializeResult(metadata=table_metadata(catalog, "silver.sales"))

    @dg.asset(key=["gold", "revenue"], deps=[silver])
    def gold(lakehouse: LakehouseResource) -> dg.MaterializeResult:
        if fail:
            raise RuntimeError("gold exploded")
        catalog = lakehouse.catalog()
        catalog.create_table("gold.revenue", SCHEMA, TableInfo(owner="team:ml"))
        catalog.overwrite("gold.revenue", catalog.read("silver.sales"))
        return dg.MaterializeResult(metadata=table_metadata(
            catalog, "gold.revenue", column_lineage=lineage(
                {"revenue": [("silver.sales", "revenue")],
                 "customer_id": [("silver.sales", "customer_id")]})))

    @dg.asset_check(asset=gold, description="revenue is never negative")
    def non_negative() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN)

    return [silver, gold, non_negative]


def emitted(settings: Settings, fail: bool) -> tuple[str, list[dict]]:
    resource = LakehouseResource.from_settings(settings)
    sensors = {s.name: s for s in lineage_events().sensors}
    with project_instance() as instance:
        result = dg.materialize(pipeline(fail), resources={"lakehouse": resource},
                                instance=instance, raise_on_error=False)
        run = instance.get_run_by_id(result.run_id)
        wanted = ["openlineage_start", "openlineage_fail" if fail else "openlineage_complete"]
        for name in wanted:
            status = {"openlineage_start": dg.DagsterEventType.RUN_START,
                      "openlineage_complete": dg.DagsterEventType.RUN_SUCCESS,
                      "openlineage_fail": dg.DagsterEventType.RUN_FAILURE}[name]
            (event,) = [e.dagster_event for e in instance.all_logs(result.run_id)
                        if e.dagster_event and e.dagster_event.event_type == status]
            context = dg.build_run_status_sensor_context(
                sensor_name=name, dagster_event=event, dagster_instance=instance,
                dagster_run=run, resources={"lakehouse": resource})
            sensors[name](context)
    lines = Path(events_file(settings.root, "dev")).read_text().splitlines()
    return result.run_id, [json.loads(line) for line in lines]


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("OPENLINEAGE_URL", raising=False)
    settings = Settings(str(tmp_path / "lake"), str(tmp_path / "landing"), "dev", "")
    Catalog(settings.root, "dev")
    return settings


def test_a_successful_run_emits_start_and_complete_with_its_datasets(lake: Settings) -> None:
    run_id, events = emitted(lake, fail=False)

    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        assert rebuilt(event).run.runId == run_id == event["run"]["runId"]
    complete = events[1]
    (source,) = complete["inputs"]
    outputs = {d["name"]: d for d in complete["outputs"]}
    assert source["name"] == "dev.silver.sales" and set(outputs) == {"dev.silver.sales",
                                                                      "dev.gold.revenue"}
    gold = outputs["dev.gold.revenue"]["facets"]
    assert gold["version"]["datasetVersion"] == str(Catalog(lake.root, "dev").version(
        "gold.revenue"))
    assert gold["ownership"]["owners"] == [{"name": "team:ml"}]
    assert [f["name"] for f in gold["schema"]["fields"]] == ["customer_id", "revenue"]
    (field,) = gold["columnLineage"]["fields"]["revenue"]["inputFields"]
    assert (field["name"], field["field"]) == ("dev.silver.sales", "revenue")
    (check,) = gold["dataQualityAssertions"]["assertions"]
    assert (check["assertion"], check["success"], check["severity"]) == ("non_negative",
                                                                          False, "warn")


def test_a_failed_run_emits_fail_with_its_error(lake: Settings) -> None:
    run_id, events = emitted(lake, fail=True)

    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    fail = rebuilt(events[1])
    assert fail.run.runId == run_id
    assert [d.name for d in fail.outputs] == ["dev.silver.sales"]
    assert "errorMessage" in events[1]["run"]["facets"]
