"""`failed_runs_sensor` (the code location's, from the real Definitions) records a real failed
run in `monitoring.failed_runs`: one row per run, error cut and cleared of credentials."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.definitions import defs
from lakehouse_ml.defs.factories import names
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.monitoring.failed_runs import FAILED_RUNS, MAX_ERROR, MAX_TAGS, TABLE, tags_json


@dg.op
def explode() -> None:
    raise ValueError("feature table is corrupt; password=hunter2 " + "x" * 10_000)


@dg.job(tags={"lakehouse_ml/domain": "test", "token": "Bearer abc.def"})
def fragile() -> None:
    explode()


def _failure(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterEvent:
    (event,) = [e.dagster_event for e in instance.all_logs(run_id)
                if e.dagster_event and e.dagster_event.is_run_failure]
    return event


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    return defs()  # the defs folder, as `dagster dev` loads it


def _evaluate(definitions: dg.Definitions, settings: Settings, instance: dg.DagsterInstance,
              run_id: str) -> None:
    sensor = definitions.resolve_sensor_def(names.FAILED_RUNS_SENSOR)
    context = dg.build_run_status_sensor_context(
        sensor_name=names.FAILED_RUNS_SENSOR, dagster_event=_failure(instance, run_id),
        dagster_instance=instance, dagster_run=instance.get_run_by_id(run_id),
        resources={"lakehouse": LakehouseResource.from_settings(settings)},
    ).for_run_failure()
    sensor(context)


def test_a_failed_run_is_recorded_once_with_its_error_cut_and_redacted(
    definitions: dg.Definitions, settings: Settings, catalog: Catalog
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    before = datetime.now(UTC)
    result = fragile.execute_in_process(instance=instance, raise_on_error=False,
                                        tags={"note": "x" * 5000})
    assert not result.success

    _evaluate(definitions, settings, instance, result.run_id)
    _evaluate(definitions, settings, instance, result.run_id)  # evaluated twice: still one row

    rows = catalog.read(TABLE)
    assert rows.schema == FAILED_RUNS
    assert rows.height == 1
    row = rows.row(0, named=True)
    assert row["run_id"] == result.run_id and row["job_name"] == "fragile"
    assert before - timedelta(seconds=1) <= row["failed_at"] <= datetime.now(UTC)
    message = row["error_message"]
    assert "fragile" in message and "feature table is corrupt" in message  # the step's error
    assert "hunter2" not in message and "[redacted]" in message
    assert len(message) <= MAX_ERROR + 40
    tags = json.loads(row["tags"])
    assert len(row["tags"]) <= MAX_TAGS
    assert tags["lakehouse_ml/domain"] == "test"
    assert "abc.def" not in row["tags"] and tags["token"] == "[redacted]"
    assert tags["note"].startswith("xxx") and len(tags["note"]) < 300  # a long tag is cut

    other = fragile.execute_in_process(instance=instance, raise_on_error=False)
    _evaluate(definitions, settings, instance, other.run_id)
    assert sorted(catalog.read(TABLE)["run_id"]) == sorted([result.run_id, other.run_id])


def test_the_failed_runs_sensor_is_defined_once_and_running_by_default(
    definitions: dg.Definitions
) -> None:
    sensor = definitions.resolve_sensor_def(names.FAILED_RUNS_SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert isinstance(sensor, dg.RunStatusSensorDefinition)
    assert [s.name for s in definitions.sensors].count(names.FAILED_RUNS_SENSOR) == 1


def test_any_number_of_tags_is_stored_in_bounded_text() -> None:
    tags = {f"k{i:06d}": "v" * 300 for i in range(100_000)}

    stored = json.loads(tags_json(tags))

    assert len(tags_json(tags)) <= MAX_TAGS
    kept = [k for k in stored if k != "...more"]
    assert kept == sorted(tags)[:len(kept)] and kept  # in key order, from the first
    assert int(stored["...more"]) == len(tags) - len(kept)
    assert all(len(stored[k]) < 300 for k in kept)  # each value cut
    assert json.loads(tags_json({"a": "1"})) == {"a": "1"}
