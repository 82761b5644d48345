"""Baselines: the champion's training set at the Delta version its registered version pins
(a real MLflow registry), a table at a version, and what a monitor does before a champion
exists."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from mlflow import MlflowClient

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.ml.registry import CHAMPION, use_tracking
from lakehouse_ml.ml.retraining import DATA_VERSIONS
from lakehouse_ml.monitoring.baseline import TrainingSetUnreadable, baseline_frame
from lakehouse_ml.monitoring.refresh import refresh
from lakehouse_ml.monitoring.schema import CONSECUTIVE
from lakehouse_ml.monitoring.spec import BaselineTable, ChampionTrainingSet, Monitor
from lakehouse_ml.monitoring.windows import MonitorError

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def rows(first: int, n: int) -> pl.DataFrame:
    return pl.DataFrame({"customer_id": range(first, first + n),
                         "label_timestamp": [T0 + timedelta(days=i % 3) for i in range(n)],
                         "plan_tier": ["basic", "pro"] * (n // 2),
                         "tenure_days": [float(i) for i in range(n)]})


@pytest.fixture
def catalog(tmp_path: Path, request: pytest.FixtureRequest) -> Catalog:
    """A lakehouse of its own catalog (environment), so its model has a registered name of
    its own in the module's MLflow store: churn declares `churn_clf`, registered as
    `<env>.churn.churn_clf` and trained on `churn.training_set`."""
    env = request.node.name.removeprefix("test_")[:40]
    catalog = Catalog(str(tmp_path / "lakehouse"), env)
    catalog.create_table("churn.training_set", rows(0, 4).schema, TableInfo(owner="t"))
    catalog.append("churn.training_set", rows(0, 4))    # version 1
    catalog.append("churn.training_set", rows(100, 6))  # version 2
    return catalog


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def client(store: str, catalog: Catalog) -> MlflowClient:
    client = use_tracking(store)
    client.create_registered_model(model(catalog))
    return client


def model(catalog: Catalog) -> str:
    return f"{catalog.env}.churn.churn_clf"


def register(client: MlflowClient, catalog: Catalog, pinned: dict[str, int]) -> int:
    name = model(catalog)
    version = client.create_model_version(name, source=f"{catalog.root}/model").version
    client.set_model_version_tag(name, version, DATA_VERSIONS, json.dumps(pinned))
    return int(version)


def crown(client: MlflowClient, catalog: Catalog, version: int) -> None:
    client.set_registered_model_alias(model(catalog), CHAMPION, str(version))


def test_the_champions_training_set_at_its_pinned_version(
        catalog: Catalog, client: MlflowClient) -> None:
    assert baseline_frame(catalog, ChampionTrainingSet("churn_clf"), client=client) is None
    table = f"{catalog.env}.churn.training_set"
    first = register(client, catalog, {table: 1, f"{catalog.env}.silver.x": 7})
    register(client, catalog, {table: 2})  # newer, but not champion
    crown(client, catalog, first)
    found = baseline_frame(catalog, ChampionTrainingSet("churn_clf"), client=client)
    assert found is not None and (found.table, found.version) == (table, 1)
    assert found.frame.equals(catalog.read("churn.training_set", 1))
    assert found.frame.height == 4


def test_unusable_champion_baselines_are_clear_errors(
        catalog: Catalog, client: MlflowClient) -> None:
    with pytest.raises(MonitorError, match="no domain declares a model 'nope'"):
        baseline_frame(catalog, ChampionTrainingSet("nope"), client=client)
    version = register(client, catalog, {f"{catalog.env}.silver.x": 7})
    crown(client, catalog, version)
    with pytest.raises(MonitorError, match=f"does not pin {catalog.env}.churn.training_set"):
        baseline_frame(catalog, ChampionTrainingSet("churn_clf"), client=client)
    with pytest.raises(MonitorError, match="baseline table gold.missing does not exist"):
        baseline_frame(catalog, BaselineTable("gold.missing"))


def test_a_baseline_table_at_a_version_or_its_latest(catalog: Catalog) -> None:
    pinned = baseline_frame(catalog, BaselineTable("churn.training_set", version=1))
    latest = baseline_frame(catalog, BaselineTable("churn.training_set"))
    assert pinned is not None and latest is not None
    assert (pinned.frame.height, latest.frame.height, latest.version) == (4, 10, 2)
    assert pinned.table == latest.table == f"{catalog.env}.churn.training_set"


def test_the_client_given_is_the_registry_asked_not_the_process_tracking_store(
        catalog: Catalog, client: MlflowClient, tmp_path: Path) -> None:
    """The champion is looked up in the store of the `client` passed, whatever store the
    process's tracking URI names (`tracking_client()` is only the default)."""
    crown(client, catalog, register(client, catalog, {f"{catalog.env}.churn.training_set": 2}))
    use_tracking(f"sqlite:///{tmp_path / 'elsewhere' / 'mlflow.db'}")  # no such model there
    found = baseline_frame(catalog, ChampionTrainingSet("churn_clf"), client=client)
    assert found is not None and (found.version, found.frame.height) == (2, 10)


def test_before_a_champion_a_monitor_writes_consecutive_drift_only(
        catalog: Catalog, client: MlflowClient) -> None:
    monitor = Monitor("churn.training_set", "time_series", timestamp_col="label_timestamp",
                      slicing_exprs=("plan_tier",), baseline=ChampionTrainingSet("churn_clf"))
    result = refresh(catalog, monitor, client=client)
    assert any("no baseline yet" in note for note in result.notes)
    drift = catalog.read(monitor.drift_metrics_table)
    assert drift.height > 0 and set(drift["drift_type"]) == {CONSECUTIVE}
    version = register(client, catalog, {f"{catalog.env}.churn.training_set": 1})
    crown(client, catalog, version)
    refresh(catalog, monitor, client=client, full=True)
    drift = catalog.read(monitor.drift_metrics_table)
    baseline = drift.filter(pl.col("drift_type") == "BASELINE", pl.col("column_name") == ":table",
                            pl.col("slice_key").is_null())
    # each of the 3 days against the 4 pinned rows (not the 10 of the latest version)
    per_day = catalog.read("churn.training_set").group_by(
        pl.col("label_timestamp").dt.date()).len().sort("label_timestamp")["len"].to_list()
    assert baseline.sort("window")["count_delta"].to_list() == [n - 4.0 for n in per_day]


def test_a_vacuumed_champion_training_set_is_a_note_and_consecutive_drift_only(
        catalog: Catalog, client: MlflowClient) -> None:
    table = f"{catalog.env}.churn.training_set"
    crown(client, catalog, register(client, catalog, {table: 1}))
    catalog.overwrite("churn.training_set", rows(200, 6))  # version 3: version 1's files unused
    catalog.vacuum("churn.training_set", 0, enforce_retention_duration=False)
    with pytest.raises(TrainingSetUnreadable, match=f"its training set {table} at version 1 "
                                                    "cannot be read"):
        baseline_frame(catalog, ChampionTrainingSet("churn_clf"), client=client)
    monitor = Monitor("churn.training_set", "time_series", timestamp_col="label_timestamp",
                      baseline=ChampionTrainingSet("churn_clf"))

    result = refresh(catalog, monitor, client=client)

    (note,) = [note for note in result.notes if note.startswith("baseline ")]
    assert f"training set {table} at version 1 cannot be read" in note
    assert note.endswith("CONSECUTIVE drift only")
    drift = catalog.read(monitor.drift_metrics_table)
    assert drift.height > 0 and set(drift["drift_type"]) == {CONSECUTIVE}
    assert result.profile_rows > 0
