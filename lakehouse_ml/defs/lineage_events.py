"""OpenLineage RunEvents for every run of this code location (issue 14 item 3).

Three run status sensors (running by default; the daemon evaluates them): a run that starts
emits START, one that succeeds COMPLETE, one that fails FAIL. A run executed in process (by
`lakehouse-ml run`, where no daemon runs and no sensor sees it) emits the same events once it
has ended (`emit_ended_run`). Outputs are the tables the run
materialized (their `dagster/table_name`, `delta_version` and `dagster/column_lineage`
metadata; schema and owner from the catalog; the run's asset check results
on them); inputs are the tables their column lineage names, at the version the run wrote (else the
current one). Events
go to `<root>/<env>/_governance/openlineage/events.jsonl`, or where openlineage-python's own
configuration says (`$OPENLINEAGE_URL`, `openlineage.yml`; see
`lakehouse_ml.governance.openlineage.lineage_client`).

Emission never fails a tick or a run: an event the transport cannot send (an endpoint that
refuses, answers 5xx or does not answer within `openlineage_delivery.SEND_SECONDS`) is logged
in one line naming the endpoint and kept under the root; the next emission, or the sensor
`openlineage_kept_events` (every minute), sends the kept events first, each once
(`lakehouse_ml.governance.openlineage_delivery`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg
import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.defs.resources import LakehouseResource

if TYPE_CHECKING:  # openlineage-python (with its HTTP clients, ~1 s) loads when an event is made
    from openlineage.client.event_v2 import RunEvent, RunState

    from lakehouse_ml.governance.openlineage import Check, LineageDataset

JOB_NAMESPACE = "lakehouse_ml"
RESEND_SENSOR = "openlineage_kept_events"
STATES = {dg.DagsterRunStatus.STARTED: "START",
          dg.DagsterRunStatus.SUCCESS: "COMPLETE",
          dg.DagsterRunStatus.FAILURE: "FAIL"}
"""Run status → the RunState (its value) of the event its sensor emits. The code location
(every Dagster run and `lakehouse-ml` command loads it) imports no openlineage module: only
making or sending an event does."""


def _run_state() -> type[RunState]:
    from openlineage.client.event_v2 import RunState

    return RunState


def _table(catalog: Catalog, key: dg.AssetKey) -> str:
    return str(catalog.name(".".join(key.path)))


def _dataset(catalog: Catalog, table: str, version: int | None = None,
             schema: pl.Schema | None = None, lineage: dict | None = None,
             checks: list[Check] | None = None) -> LineageDataset:
    from lakehouse_ml.governance.openlineage import LineageDataset

    found = catalog.exists(table)
    return LineageDataset(
        table, version if version is not None or not found else catalog.version(table),
        schema if schema is not None or not found else catalog.schema(table),
        catalog.describe(table).info.owner if found else None, lineage or {}, checks or [])


def run_datasets(instance: dg.DagsterInstance, run_id: str, catalog: Catalog
                 ) -> tuple[list[LineageDataset], list[LineageDataset]]:
    """(inputs, outputs) of run `run_id` from its event log (see the module docstring)."""
    from lakehouse_ml.governance.openlineage import Check

    written: dict[str, dict] = {}
    checks: dict[str, list[Check]] = defaultdict(list)
    # only the two kinds read below: a run's log is mostly other events (step starts and
    # outputs, logs, handled outputs), each deserialized when fetched
    for record in instance.all_logs(run_id, of_type={
            dg.DagsterEventType.ASSET_MATERIALIZATION,
            dg.DagsterEventType.ASSET_CHECK_EVALUATION}):
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.event_specific_data.materialization
            metadata = materialization.metadata
            name = metadata.get("dagster/table_name")
            if name is None:
                continue
            # a ranged run's partitions share the step's version; the column lineage is on
            # its last partition only (`factories.metadata.per_partition`)
            entry = written.setdefault(str(catalog.name(name.value)),
                                       {"version": None, "lineage": {}})
            if (version := metadata.get("delta_version")) is not None:
                entry["version"] = int(version.value)
            if (lineage := metadata.get("dagster/column_lineage")) is not None:
                entry["lineage"] = {
                    column: [(_table(catalog, d.asset_key), d.column_name) for d in deps]
                    for column, deps in lineage.value.deps_by_column.items()}
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


def _event(catalog: Catalog, instance: dg.DagsterInstance, run: dg.DagsterRun,
           state: RunState, *, error: str | None = None, at: datetime | None = None
           ) -> RunEvent:
    from lakehouse_ml.governance.openlineage import run_event

    inputs, outputs = ((), ()) if state == _run_state().START else run_datasets(
        instance, run.run_id, catalog)
    return run_event(catalog.root, state, run.run_id, JOB_NAMESPACE, run.job_name, inputs,
                     outputs, error=error, at=at)


def _deliver(catalog: Catalog, events: list[RunEvent]) -> int:
    from lakehouse_ml.governance.openlineage import lineage_client
    from lakehouse_ml.governance.openlineage_delivery import deliver

    return deliver(lineage_client(catalog.root, catalog.env), catalog.root, catalog.env, events)


def emit_run_event(catalog: Catalog, instance: dg.DagsterInstance, run: dg.DagsterRun,
                   state: RunState, *, error: str | None = None, at: datetime | None = None
                   ) -> None:
    """Emit the RunEvent of `run` entering `state` (datasets from its event log, see
    `run_datasets`; none for START) with `lineage_client`, after the events kept earlier;
    `at`: the event time (None: now). Raises EventsKept (one line, the event kept to be sent
    later) when the transport fails, e.g. an unreachable HTTP endpoint."""
    _deliver(catalog, [_event(catalog, instance, run, state, error=error, at=at)])


def _time(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


def emit_ended_run(catalog: Catalog, instance: dg.DagsterInstance, run_id: str) -> None:
    """START, then COMPLETE or FAIL (with the failure's message), of run `run_id`, which has
    ended on `instance` (executed in process: no run status sensor sees it), at its start and
    end times. Raises as `emit_run_event` (both events kept)."""
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        raise LookupError(f"openlineage: no run {run_id} on this Dagster instance")
    run, states = record.dagster_run, _run_state()
    start = _event(catalog, instance, run, states.START, at=_time(record.start_time))
    if run.status == dg.DagsterRunStatus.SUCCESS:
        end = _event(catalog, instance, run, states.COMPLETE, at=_time(record.end_time))
    else:
        failures = [e.dagster_event.message for e in instance.all_logs(
            run_id, of_type=dg.DagsterEventType.RUN_FAILURE) if e.dagster_event]
        end = _event(catalog, instance, run, states.FAIL, at=_time(record.end_time),
                     error=(failures or [None])[-1] or f"run ended {run.status.value}")
    _deliver(catalog, [start, end])


def _sensor(status: dg.DagsterRunStatus) -> dg.SensorDefinition:
    state = STATES[status]

    @dg.run_status_sensor(
        run_status=status, name=f"openlineage_{state.lower()}",
        default_status=dg.DefaultSensorStatus.RUNNING, monitor_all_code_locations=False,
        description=f"Emits an OpenLineage {state} RunEvent for every run that enters "
        f"{status.value} (file under the lakehouse root, or openlineage-python's "
        "configuration); an event that cannot be sent is logged and kept for a later tick.")
    def _emit(context: dg.RunStatusSensorContext, lakehouse: LakehouseResource) -> None:
        error = None if state != "FAIL" else (context.dagster_event.message or "failed")
        try:
            emit_run_event(lakehouse.catalog(), context.instance, context.dagster_run,
                           _run_state()(state), error=error)
        except Exception as problem:  # lineage never fails a tick: logged, event kept
            context.log.warning(_said(problem, context.dagster_run.run_id))

    return _emit


def _said(problem: Exception, run_id: str) -> str:
    from lakehouse_ml.governance.openlineage_delivery import EventsKept

    if isinstance(problem, EventsKept):
        return str(problem)
    return (f"openlineage: no event for run {run_id}: {type(problem).__name__}: "
            f"{' '.join(str(problem).split())}")


@dg.sensor(name=RESEND_SENSOR, minimum_interval_seconds=60,
           default_status=dg.DefaultSensorStatus.RUNNING,
           description="Sends the OpenLineage events kept while their endpoint could not be "
           "reached, oldest first (each once).")
def resend_kept_events(context: dg.SensorEvaluationContext, lakehouse: LakehouseResource
                       ) -> dg.SkipReason:
    from lakehouse_ml.governance.openlineage_delivery import pending

    catalog = lakehouse.catalog()
    if not pending(catalog.root, catalog.env):
        return dg.SkipReason("no kept OpenLineage event")
    try:
        sent = _deliver(catalog, [])
    except Exception as problem:  # logged; the events stay kept for the next tick
        context.log.warning(_said(problem, "(kept events)"))
        return dg.SkipReason(str(problem))
    return dg.SkipReason(f"sent {sent} kept OpenLineage event(s)")


@dg.definitions
def lineage_events() -> dg.Definitions:
    return dg.Definitions(sensors=[*(_sensor(status) for status in STATES),
                                   resend_kept_events])
