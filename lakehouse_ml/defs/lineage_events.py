"""OpenLineage RunEvents for every run of this code location (issue 14 item 3).

Three run status sensors (running by default; the daemon evaluates them): a run that starts
emits START, one that succeeds COMPLETE, one that fails FAIL. Outputs are the tables the run
materialized (their `dagster/table_name`, `delta_version` and `dagster/column_lineage`
metadata; schema and owner from the catalog; the run's asset check results
on them); inputs are the tables their column lineage names, at the version the run wrote (else the
current one). Events
go to `<root>/<env>/_governance/openlineage/events.jsonl`, or over HTTP to a Marquez-compatible
endpoint when `$OPENLINEAGE_URL` is set (see `lakehouse_ml.governance.openlineage`).
"""

from __future__ import annotations

from collections import defaultdict

import dagster as dg
import polars as pl
from openlineage.client.event_v2 import RunState

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.governance.openlineage import Check, LineageDataset, lineage_client, run_event

JOB_NAMESPACE = "lakehouse_ml"
STATES = {dg.DagsterRunStatus.STARTED: RunState.START,
          dg.DagsterRunStatus.SUCCESS: RunState.COMPLETE,
          dg.DagsterRunStatus.FAILURE: RunState.FAIL}


def _table(catalog: Catalog, key: dg.AssetKey) -> str:
    return str(catalog.name(".".join(key.path)))


def _dataset(catalog: Catalog, table: str, version: int | None = None,
             schema: pl.Schema | None = None, lineage: dict | None = None,
             checks: list[Check] | None = None) -> LineageDataset:
    found = catalog.exists(table)
    return LineageDataset(
        table, version if version is not None or not found else catalog.version(table),
        schema if schema is not None or not found else catalog.schema(table),
        catalog.describe(table).info.owner if found else None, lineage or {}, checks or [])


def run_datasets(instance: dg.DagsterInstance, run_id: str, catalog: Catalog
                 ) -> tuple[list[LineageDataset], list[LineageDataset]]:
    """(inputs, outputs) of run `run_id` from its event log (see the module docstring)."""
    written: dict[str, dict] = {}
    checks: dict[str, list[Check]] = defaultdict(list)
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.event_specific_data.materialization
            metadata = materialization.metadata
            name = metadata.get("dagster/table_name")
            if name is None:
                continue
            table = str(catalog.name(name.value))
            version = metadata.get("delta_version")
            lineage = metadata.get("dagster/column_lineage")
            written[table] = {
                "version": None if version is None else int(version.value),
                "lineage": {} if lineage is None else {
                    column: [(_table(catalog, d.asset_key), d.column_name) for d in deps]
                    for column, deps in lineage.value.deps_by_column.items()},
            }
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            checks[_table(catalog, evaluation.asset_key)].append(Check(
                evaluation.check_name, evaluation.passed, evaluation.severity.value.lower(),
                evaluation.description))
    outputs = [_dataset(catalog, table, w["version"], None, w["lineage"], checks.get(table))
               for table, w in written.items()]
    sources = sorted({t for w in written.values() for deps in w["lineage"].values()
                      for t, _ in deps})
    inputs = [_dataset(catalog, table, written.get(table, {}).get("version"),
                       checks=checks.get(table)) for table in sources]
    return inputs, outputs


def _sensor(status: dg.DagsterRunStatus) -> dg.SensorDefinition:
    state = STATES[status]

    @dg.run_status_sensor(
        run_status=status, name=f"openlineage_{state.value.lower()}",
        default_status=dg.DefaultSensorStatus.RUNNING, monitor_all_code_locations=False,
        description=f"Emits an OpenLineage {state.value} RunEvent for every run that enters "
        f"{status.value} (file under the lakehouse root, or $OPENLINEAGE_URL).")
    def _emit(context: dg.RunStatusSensorContext, lakehouse: LakehouseResource) -> None:
        catalog = lakehouse.catalog()
        run = context.dagster_run
        inputs, outputs = ((), ()) if state == RunState.START else run_datasets(
            context.instance, run.run_id, catalog)
        error = None if state != RunState.FAIL else (context.dagster_event.message or "failed")
        lineage_client(catalog.root, catalog.env).emit(run_event(
            catalog.root, state, run.run_id, JOB_NAMESPACE, run.job_name, inputs, outputs,
            error=error))

    return _emit


@dg.definitions
def lineage_events() -> dg.Definitions:
    return dg.Definitions(sensors=[_sensor(status) for status in STATES])
