"""Re-runs with nothing new add nothing (issue 11 item 7): no model version when the data
versions are the champion's, one scoring per day in the predictions, and no silver or gold
table version when no file arrived."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import dagster as dg
import polars as pl
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.cli import app
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.model import model_asset, train_run_config
from lakehouse_ml.defs.resources import LakehouseResource, MlflowResource
from lakehouse_ml.domains.churn import DOMAIN
from lakehouse_ml.domains.churn.generator import GenerationReport
from lakehouse_ml.medallion.progress import TABLE as PROGRESS
from lakehouse_ml.ml.candidate import Candidate, train_if_new
from lakehouse_ml.ml.deploy import deploy, record_gates
from lakehouse_ml.ml.gates import run_gates
from lakehouse_ml.ml.registry import CHAMPION, alias_version, use_tracking
from lakehouse_ml.ml.retraining import AlreadyTrained
from lakehouse_ml.ml.scoring import write_scores
from tests.boundary_domain import DAY1, SENSORS, land, reading
from tests.conftest import day_keys, materialize
from tests.test_boundaries_ml import SPEC, labelled
from tests.test_second_domain import FLEET_DAYS
from tests.user_domains import declare_user_domains

NAME = SPEC.registered_name("dev")
ROOT = Path(__file__).resolve().parent.parent


def model_store(base: Path) -> tuple[Catalog, MlflowClient]:
    """A training-set table holding `labelled()` and an empty MLflow store under `base`."""
    settings = store_settings(base)
    catalog = Catalog(settings.root, "dev")
    frame = labelled()
    catalog.create_table(SPEC.training_set.name, frame.schema, TableInfo(owner="t"))
    catalog.append(SPEC.training_set.name, frame)
    return catalog, use_tracking(settings.mlflow_tracking_uri)


def store_settings(base: Path) -> Settings:
    return Settings(str(base / "lakehouse"), str(base / "landing"), "dev",
                    f"sqlite:///{base / 'mlflow' / 'mlflow.db'}")


def through_gates(catalog: Catalog, client: MlflowClient, candidate: Candidate) -> str:
    passed = record_gates(catalog, client, SPEC.schema, NAME, candidate.version,
                          candidate.run_id, run_gates(client, SPEC, candidate))
    return deploy(catalog, client, SPEC.schema, NAME, candidate.version, passed, actor="test")


def versions(client: MlflowClient) -> list[int]:
    return sorted(int(v.version) for v in client.search_model_versions(f"name = '{NAME}'"))


def train_through_dagster(base: Path, instance: dg.DagsterInstance, *, force: bool = False
                          ) -> dg.ExecuteInProcessResult:
    """The model asset (train → validate → deploy) as the train job runs it."""
    settings = store_settings(base)
    resources = {"lakehouse": LakehouseResource.from_settings(settings),
                 "mlflow": MlflowResource.from_settings(settings)}
    config = train_run_config(SPEC, force=force)  # what `lakehouse-ml run --force` passes
    return dg.materialize([model_asset(SPEC)], resources=resources, run_config=config,
                          instance=instance)


def test_training_on_the_champions_data_versions_registers_nothing_unless_forced(
    trained_at_once: AtOnce, tmp_path: Path, instance: dg.DagsterInstance,
) -> None:
    """On a copy of the store the train job's asset left (`trained_at_once`: version 1 trained
    through Dagster, champion)."""
    for part in ("lakehouse", "mlflow"):
        shutil.copytree(trained_at_once.base / part, tmp_path / part)
    client = use_tracking(store_settings(tmp_path).mlflow_tracking_uri)
    assert versions(client) == [1] and alias_version(client, NAME, CHAMPION) == 1

    again = train_through_dagster(tmp_path, instance)

    assert again.success and versions(client) == [1]
    assert not again.asset_materializations_for_node("churn__churn_clf")
    (observed,) = again.get_asset_observation_events()
    message = observed.asset_observation_data.asset_observation.metadata["not_retrained"].text
    assert "version 1 (champion)" in message and "--force" in message
    logged = [e.user_message for e in instance.all_logs(again.run_id)]
    assert message in logged

    forced = train_through_dagster(tmp_path, instance, force=True)

    assert forced.success and versions(client) == [1, 2]
    assert forced.asset_materializations_for_node("churn__churn_clf")


def test_new_data_version_trains_and_a_judged_non_champion_is_not_trained_again(
    tmp_path: Path,
) -> None:
    catalog, client = model_store(tmp_path)
    through_gates(catalog, client, train_if_new(catalog, client, SPEC))
    catalog.append(SPEC.training_set.name, labelled(rows=40, seed=9))  # a new Delta version

    second = train_if_new(catalog, client, SPEC)
    assert isinstance(second, Candidate) and second.version == 2
    # judged (gates recorded) but not made champion, e.g. failed or rolled back afterwards
    record_gates(catalog, client, SPEC.schema, NAME, 2, second.run_id,
                 run_gates(client, SPEC, second))
    third = train_if_new(catalog, client, SPEC)

    assert isinstance(third, AlreadyTrained) and third.version == 2
    assert third.state.startswith("validation ")
    assert versions(client) == [1, 2]


def test_a_version_whose_validation_never_finished_is_trained_again(tmp_path: Path) -> None:
    catalog, client = model_store(tmp_path)
    train_if_new(catalog, client, SPEC)  # registered, never validated (the run crashed)

    again = train_if_new(catalog, client, SPEC)

    assert isinstance(again, Candidate) and versions(client) == [1, 2]


def train_in_this_process(base: str) -> None:
    """Child process body: the train job's model asset on the instance at $DAGSTER_HOME, once
    its imports are done (it says `ready` on stdout first, so that the test's process starts
    its own run at the same moment; what it prints after that goes to stderr: nobody reads
    the pipe)."""
    print("ready", flush=True)
    os.dup2(2, 1)
    assert train_through_dagster(Path(base), dg.DagsterInstance.get()).success


class AtOnce(NamedTuple):
    base: Path
    """The training set and MLflow store (`store_settings(base)`) the two runs trained from."""
    trains: list[list[float]]
    """Each run's train step: [start, end] timestamps, in order of start."""


@pytest.fixture(scope="module")
def trained_at_once(tmp_path_factory: pytest.TempPathFactory) -> AtOnce:
    """Two processes train the same model from the same data at once, on an instance with the
    shipped dagster.yaml: a child and this one, which starts its run when the child has
    imported everything and starts its own (a second child would pay those imports again).
    Both runs succeed. Shared by the module's tests: copy `base` before writing."""
    base = tmp_path_factory.mktemp("at-once")
    model_store(base)
    home = base / "dagster"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DAGSTER_HOME", str(home))
        with dg.DagsterInstance.get() as instance:  # storage and the pool's slot created once:
            # two processes creating a pool at once can each allocate a slot (an open fault)
            instance.event_log_storage.initialize_concurrency_limit_to_default(
                "train_churn_clf")
        child = ("from tests.test_idempotent_reruns import train_in_this_process as run; "
                 f"run({str(base)!r})")
        run = subprocess.Popen([sys.executable, "-c", child], cwd=ROOT, stdout=subprocess.PIPE,
                               text=True)
        try:
            assert run.stdout.readline() == "ready\n"
            with dg.DagsterInstance.get() as instance:
                assert train_through_dagster(base, instance).success
            assert run.wait(timeout=600) == 0
        finally:
            run.kill()  # no-op once it exited
            run.wait()
        with dg.DagsterInstance.get() as instance:
            trains = sorted(
                [e.timestamp for e in instance.all_logs(record.dagster_run.run_id)
                 if e.dagster_event and e.step_key
                 and e.step_key.endswith("churn_clf_train_model")
                 and e.dagster_event.event_type_value in ("STEP_START", "STEP_SUCCESS")]
                for record in instance.get_run_records())
    return AtOnce(base, trains)


def test_two_train_runs_at_once_register_one_version(trained_at_once: AtOnce) -> None:
    """The two runs of `trained_at_once`: the train steps take turns in pool
    `train_churn_clf`, and the second sees the first's version (validated, or being validated
    by a live run): one version."""
    uri = store_settings(trained_at_once.base).mlflow_tracking_uri
    client = MlflowClient(uri, uri)
    assert versions(client) == [1]
    (_, first_end), (second_start, _) = trained_at_once.trains
    assert first_end <= second_start


def scores(as_of: datetime, version: int, keys: range) -> pl.DataFrame:
    return pl.DataFrame({
        "customer_id": list(keys), "as_of": [as_of] * len(keys),
        "probability": [0.25] * len(keys), "prediction": [False] * len(keys),
        "model_version": [version] * len(keys), "scored_at": [as_of] * len(keys),
    }, schema_overrides={"as_of": pl.Datetime("us", "UTC"),
                         "scored_at": pl.Datetime("us", "UTC"), "model_version": pl.Int64})


def test_rescoring_a_day_replaces_its_rows_and_a_new_day_adds(catalog: Catalog) -> None:
    day = datetime(2026, 5, 1, tzinfo=UTC)
    write_scores(catalog, "churn.predictions", scores(day, 1, range(5)), day)
    write_scores(catalog, "churn.predictions", scores(day + timedelta(hours=23, minutes=59),
                                                      2, range(4)),
                 day + timedelta(hours=23, minutes=59))

    once = catalog.read("churn.predictions")
    assert once.height == 4 and once["model_version"].unique().to_list() == [2]

    nxt = day + timedelta(days=1)
    write_scores(catalog, "churn.predictions", scores(nxt, 2, range(5)), nxt)
    write_scores(catalog, "churn.predictions", scores(nxt, 2, range(5)), nxt)

    both = catalog.read("churn.predictions")
    assert both.height == 4 + 5
    assert both.group_by(pl.col("as_of").dt.date()).len().sort("as_of")["len"].to_list() == [4, 5]


def table_versions(catalog: Catalog) -> dict[str, int]:
    return {t.name: catalog.version(t.name) for t in catalog.tables()
            if ".silver." in t.name or ".gold." in t.name}


def test_rerun_without_new_files_writes_no_silver_or_gold_version(
    settings: Settings, catalog: Catalog, landing: GenerationReport,
) -> None:
    days = day_keys()[:3]  # three days of the landed fourteen: every run reads them all
    last = Path(settings.landing) / "events" / days[-1]
    held = Path(settings.landing).parent / "held"
    shutil.move(last, held)  # the last day's events have not landed yet
    materialize(settings, days)
    before = table_versions(catalog)
    assert any(".gold." in name for name in before) and len(before) > 2 * len(DOMAIN.sources)

    materialize(settings, days)

    assert table_versions(catalog) == before
    shutil.move(held, last)  # now they land: only what reads events is redone

    materialize(settings, days)

    after = table_versions(catalog)
    changed = {name for name in before if after[name] != before[name]}
    assert "dev.silver.events" in changed and "dev.gold.daily_activity" in changed
    assert "dev.silver.customers" not in changed
    assert catalog.read(PROGRESS).filter(
        pl.col("table") == "dev.silver.events", pl.col("batch_id") == days[-1]).height == 1
    gold = catalog.read("gold.daily_activity")
    shutil.rmtree(catalog.location("gold.daily_activity"))  # dropped by hand: rebuilt

    materialize(settings, days)

    assert catalog.read("gold.daily_activity").sort(gold.columns).equals(gold.sort(gold.columns))


def test_a_batch_whose_blocking_check_failed_is_refined_again_not_skipped(
    settings: Settings,
) -> None:
    land(settings.landing, DAY1, [reading("g1"), reading("g2"), reading("b1", celsius="hot"),
                                  reading("b2", celsius=999.0)])  # 2 of 4 refused: blocks
    for _ in range(2):  # the re-run has no new file, yet the failed batch is not done

        result = materialize(settings, [DAY1], domain=SENSORS, raise_on_error=False)

        contract = {e.check_name: e for e in result.get_asset_check_evaluations()}["contract"]
        assert not contract.passed and contract.metadata["rows_read"].value == 4
        assert not result.asset_materializations_for_node("gold__hottest")


def test_lakehouse_ml_run_twice_adds_no_model_version_scores_or_table_version(
    settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    fleet = declare_user_domains(monkeypatch)  # a small domain with a model and batch scores
    for day in FLEET_DAYS:
        fleet.land_day(settings.landing, day, labels=day != FLEET_DAYS[0])
    first = CliRunner().invoke(app, ["run", "--domain", "fleet"])
    assert first.exit_code == 0, first.output
    catalog, client = Catalog(settings.root, "dev"), use_tracking(settings.mlflow_tracking_uri)
    model = "dev.fleet.breakdown_clf"
    before = {t.name: catalog.version(t.name) for t in catalog.tables()}
    scores = catalog.read("fleet.predictions").drop("scored_at").sort("vehicle_id")
    assert len(client.search_model_versions(f"name = '{model}'")) == 1 and scores.height

    again = CliRunner().invoke(app, ["run", "--domain", "fleet"])

    assert again.exit_code == 0, again.output
    assert f"{model}: not retrained, version 1 (champion)" in again.stdout
    assert len(client.search_model_versions(f"name = '{model}'")) == 1
    after = {t.name: catalog.version(t.name) for t in catalog.tables()}
    rescored = "dev.fleet.predictions"  # its day's rows replaced by the same rows
    assert {n: v for n, v in after.items() if n != rescored} == {
        n: v for n, v in before.items() if n != rescored}
    assert catalog.read("fleet.predictions").drop("scored_at").sort("vehicle_id").equals(scores)
