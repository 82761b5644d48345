"""Every step that writes a Delta table is in that table's Dagster pool (`names.write_pool`;
bronze: `ingest_<source>`), and the shipped `dagster.yaml` gives each pool one slot: two runs
(two days' refreshes, say) never write one table at once, where the second commit would fail
with Delta's `CommitFailedError` (stranger 15, F5)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import dagster as dg
import polars as pl
import pytest
import yaml

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories import medallion
from lakehouse_ml.defs.factories.domain import domain_definitions
from lakehouse_ml.defs.factories.metadata import asset_key
from lakehouse_ml.defs.factories.names import daily_refresh, write_pool
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.domains import declarations, declared_monitors
from lakehouse_ml.quality.expectations import run_suite
from tests.boundary_domain import DAY1, DAY2, HOTTEST, SENSORS, land, reading
from tests.conftest import PROJECT, PROJECT_STORAGE

SHIPPED = yaml.safe_load((PROJECT / "dagster.yaml").read_text())


def _table(key: dg.AssetKey) -> str:
    return ".".join(key.path)


def _writers() -> dict[str, tuple[list[str], set[str | None]]]:
    """Per executable asset op of the project's Definitions writing Delta tables (its asset
    keys of kind `delta`, each `schema/name` naming table `schema.name`): those tables in
    declaration order and the pools of its ops."""
    from lakehouse_ml.definitions import defs

    found = {}
    for assets in defs().resolve_asset_graph().assets_defs:
        if not assets.is_executable:
            continue
        tables = [_table(spec.key) for spec in assets.specs if "delta" in spec.kinds]
        if tables:
            node = assets.node_def
            ops = node.node_defs if isinstance(node, dg.GraphDefinition) else [node]
            found[node.name] = (tables, {op.pool for op in ops})
    return found


def test_every_step_writing_a_table_is_in_that_tables_pool_of_one_slot() -> None:
    writers = _writers()
    written = {table for tables, _ in writers.values() for table in tables}
    # the declared tables (domain specs) are all among them: none escapes the `delta` kind
    bronze = {}
    for domain, models in declarations().values():
        declared = {*(s.silver_table for s in domain.sources),
                    *(a.table for a in domain.aggregates),
                    *(f.table for f in domain.feature_tables),
                    *((domain.training_set.name,) if domain.training_set else ()),
                    *(m.predictions_table for m in models if m.batch_scoring is not None)}
        bronze |= {s.bronze_table: f"ingest_{s.name}" for s in domain.sources}
        assert declared | set(bronze) <= written, sorted(declared | set(bronze) - written)
        # the tables a bronze or silver step writes beside its own: no other asset writes them
        assert not {t for s in domain.sources for t in (s.manifest_table, s.rejects_table,
                                                        s.quarantine_table)} & written
    monitors = declared_monitors()
    assert monitors  # the shipped domain declares some: their two tables are one op's
    for monitor in monitors:
        assert {monitor.profile_metrics_table, monitor.drift_metrics_table} <= written
    assert "governance.findings" in written

    wrong = {}
    for op, (tables, pools) in writers.items():
        # an op writing several tables (a monitor) is in its first table's pool
        expected = bronze.get(tables[0]) or write_pool(tables[0])
        if pools != {expected}:
            wrong[op] = (tables, pools, expected)
    assert not wrong, wrong
    owners = [table for tables, _ in writers.values() for table in tables]
    assert len(owners) == len(set(owners))  # one writing op per table: its pool covers it
    for monitor in monitors:
        (pools,) = [p for tables, p in writers.values()
                    if monitor.drift_metrics_table in tables]
        assert pools == {write_pool(monitor.profile_metrics_table)}
    # each pool holds one step at a time, whichever run it belongs to
    assert SHIPPED["concurrency"]["pools"] == {"default_limit": 1, "granularity": "op"}


@pytest.fixture
def pooled_instance() -> Iterator[dg.DagsterInstance]:
    """A temporary instance with the shipped `dagster.yaml`'s storage and pools."""
    with dg.instance_for_test(overrides={"storage": PROJECT_STORAGE,
                                         "concurrency": SHIPPED["concurrency"]}) as instance:
        yield instance


def _step_times(instance: dg.DagsterInstance, run_id: str, step: str) -> tuple[float, float]:
    """When the run's `step` started and succeeded (its event log)."""
    times = {event.dagster_event.event_type_value: event.timestamp
             for event in instance.all_logs(run_id)
             if event.dagster_event and event.step_key == step}
    return times["STEP_START"], times["STEP_SUCCESS"]


def test_two_days_refreshed_at_once_write_a_gold_table_one_after_the_other(
    settings: Settings, catalog: Catalog, pooled_instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two runs of `sensors_daily_refresh` (days 1 and 2) on one instance: the first is held
    inside its gold step (writing gold.hottest) until the second's gold step is seen waiting
    in the pool (or, without the pool, until it is seen writing the table as well): the
    second starts only after the first ended, and both succeed."""
    land(settings.landing, DAY1, [reading("a", celsius=21.0)])
    land(settings.landing, DAY2, [reading("b", celsius=30.0, at=f"{DAY2}T01:00:00Z")])
    definitions = dg.Definitions.merge(
        domain_definitions(SENSORS, landing=settings.landing),
        dg.Definitions(resources={"lakehouse": LakehouseResource.from_settings(settings)}))
    job = definitions.resolve_job_def(daily_refresh(SENSORS.name))
    pool, step = write_pool(HOTTEST.table), asset_key(HOTTEST.table).to_python_identifier()
    storage = pooled_instance.event_log_storage
    first_id, second_id = str(uuid.uuid4()), str(uuid.uuid4())

    real, lock, inside = medallion.build_aggregate, threading.Lock(), threading.Event()
    writes: list[list[float]] = []  # [entered, left] per call writing gold.hottest
    waited = []

    def held(*args: object, **kwargs: object) -> object:
        with lock:
            call = [time.monotonic(), 0.0]
            writes.append(call)
            first = len(writes) == 1
        if first:  # the first run's: hold it inside its step
            inside.set()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and len(writes) == 1:
                if second_id in storage.get_concurrency_info(pool).pending_run_ids:
                    waited.append(time.monotonic())
                    break
                time.sleep(0.05)
        try:
            return real(*args, **kwargs)
        finally:
            call[1] = time.monotonic()

    monkeypatch.setattr(medallion, "build_aggregate", held)
    # GX imported before the runs: two threads importing it at once deadlock (steps of real
    # runs are processes of their own)
    run_suite("warm", pl.DataFrame({"max_celsius": [20.0]}), HOTTEST.expectations)
    results = {}

    def run(run_id: str, day: str) -> None:
        results[run_id] = job.execute_in_process(instance=pooled_instance, partition_key=day,
                                                 run_id=run_id, raise_on_error=False)

    first = threading.Thread(target=run, args=(first_id, DAY1))
    first.start()
    assert inside.wait(60), "the first run never reached its gold step"
    run(second_id, DAY2)
    first.join(60)

    (one, two) = writes
    assert one[1] <= two[0], writes  # one write of the table after the other
    assert waited, "the second run's gold step was never seen waiting in its pool"
    failures = [event.event_specific_data.error.message for result in results.values()
                for event in result.all_events if event.is_step_failure]
    assert results[first_id].success and results[second_id].success, failures
    first_start, first_end = _step_times(pooled_instance, first_id, step)
    second_start, second_end = _step_times(pooled_instance, second_id, step)
    assert first_start < first_end <= second_start < second_end
    # both days' rows are in the table (real Delta)
    assert sorted(catalog.read(HOTTEST.table)["max_celsius"].to_list()) == [21.0, 30.0]
