"""Train → validate → deploy through Dagster on a real MLflow store; rollback; batch scores."""

from __future__ import annotations

from dataclasses import replace

import dagster as dg
import mlflow
import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.cli import app
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.model import model_asset, predictions_asset
from lakehouse_ml.defs.factories.training import training_set_asset
from lakehouse_ml.defs.resources import LakehouseResource, MlflowResource
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.features.training_table import build_training_set
from lakehouse_ml.ml.candidate import train_candidate
from lakehouse_ml.ml.deploy import deploy, record_gates
from lakehouse_ml.ml.gates import run_gates
from lakehouse_ml.ml.registry import CHALLENGER, CHAMPION, PREVIOUS, alias_version, use_tracking
from tests.conftest import history_copy

NAME = MODEL.registered_name("dev")


@pytest.fixture(scope="module")
def lakehouse(tmp_path_factory: pytest.TempPathFactory, churn_history: Settings) -> Settings:
    """A copy of the shared churn history's medallion and feature tables (300 customers over
    100 days and more), and an MLflow store of its own."""
    return history_copy(churn_history, tmp_path_factory.mktemp("model"))


def resources(settings: Settings) -> dict:
    return {"lakehouse": LakehouseResource.from_settings(settings),
            "mlflow": MlflowResource.from_settings(settings)}


def candidate_through_gates(settings: Settings, spec=MODEL) -> tuple[int, str]:
    """The lifecycle's engine steps for a variant spec (what the Dagster ops call)."""
    catalog, client = Catalog(settings.root, "dev"), use_tracking(settings.mlflow_tracking_uri)
    candidate = train_candidate(catalog, client, spec)
    passed = record_gates(catalog, client, spec.schema, candidate.model, candidate.version,
                          candidate.run_id, run_gates(client, spec, candidate))
    return candidate.version, deploy(catalog, client, spec.schema, candidate.model,
                                     candidate.version, passed, actor="test")


def test_first_model_becomes_champion_with_everything_logged(lakehouse: Settings) -> None:
    result = dg.materialize(
        [training_set_asset(MODEL.training_set), model_asset(MODEL)],
        resources=resources(lakehouse),
    )

    assert result.success
    client = use_tracking(lakehouse.mlflow_tracking_uri)
    assert alias_version(client, NAME, CHAMPION) == 1
    version = client.get_model_version(NAME, "1")
    assert version.tags["validation_status"] == "passed"
    assert "dev.gold.customer_engagement" in version.tags["data_versions"]
    assert "customer_engagement" in version.tags["feature_lookups"]
    assert "ROC AUC" in version.description
    run = client.get_run(version.run_id)
    for metric in ("roc_auc", "pr_auc", "f1", "precision", "recall", "log_loss",
                   "calibration_error", "roc_auc.plan_tier.basic", "gate.beats_champion"):
        assert metric in run.data.metrics, metric
    assert run.data.metrics["roc_auc"] > MODEL.min_roc_auc
    assert run.data.tags["git_commit"] and run.data.tags["feature_set"] == MODEL.training_set.name
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert artifacts == {f"plots/{n}.png" for n in ("feature_importance", "roc_curve",
                                                    "pr_curve", "confusion_matrix")}
    card = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/model_card.md")
    assert "## Intended use" in card and "## Limitations" in card and "plan_tier" in card
    (dataset,) = run.inputs.dataset_inputs
    assert dataset.dataset.name == "dev.churn.training_set"
    assert "delta_table_version" in dataset.dataset.source
    catalog = Catalog(lakehouse.root, "dev")
    gates = catalog.read("churn.validation_results").filter(pl.col("version") == 1)
    assert set(gates["gate"]) == {"min_roc_auc", "beats_champion", "slice_gap",
                                  "reload_matches", "signature"}
    assert gates["passed"].all()


def test_worse_candidate_is_rejected_and_champion_stays(lakehouse: Settings) -> None:
    client = use_tracking(lakehouse.mlflow_tracking_uri)
    champion = alias_version(client, NAME, CHAMPION)
    worse = replace(MODEL, params={"max_iter": 2, "max_depth": 1, "learning_rate": 0.01})

    version, alias = candidate_through_gates(lakehouse, worse)

    assert alias == CHALLENGER
    assert alias_version(client, NAME, CHAMPION) == champion
    assert alias_version(client, NAME, CHALLENGER) == version
    assert client.get_model_version(NAME, str(version)).tags["validation_status"] == "failed"
    gates = Catalog(lakehouse.root, "dev").read("churn.validation_results").filter(
        pl.col("version") == version)
    assert not gates.filter(pl.col("gate") == "beats_champion")["passed"].item()


def test_promotion_then_rollback_restores_previous_champion(lakehouse: Settings) -> None:
    client = use_tracking(lakehouse.mlflow_tracking_uri)
    before = alias_version(client, NAME, CHAMPION)
    version, alias = candidate_through_gates(lakehouse, replace(MODEL, champion_margin=-1.0))
    assert alias == CHAMPION and alias_version(client, NAME, PREVIOUS) == before

    env = {"LAKEHOUSE_ROOT": lakehouse.root, "LAKEHOUSE_ENV": "dev",
           "MLFLOW_TRACKING_URI": lakehouse.mlflow_tracking_uri}
    rolled = CliRunner().invoke(app, ["rollback", "--reason", "bad week"], env=env)

    assert rolled.exit_code == 0, rolled.output
    assert alias_version(client, NAME, CHAMPION) == before
    assert alias_version(client, NAME, PREVIOUS) == version
    changes = Catalog(lakehouse.root, "dev").read("churn.alias_changes").sort("changed_at")
    last = changes.tail(2).to_dicts()
    assert [c["alias"] for c in last] == [CHAMPION, PREVIOUS]
    assert last[0]["to_version"] == before and "bad week" in last[0]["reason"]
    assert last[0]["actor"].startswith("cli:")


def test_registry_model_predicts_like_batch_scoring(lakehouse: Settings) -> None:
    result = dg.materialize([predictions_asset(MODEL)], resources=resources(lakehouse))

    assert result.success
    catalog = Catalog(lakehouse.root, "dev")
    predictions = catalog.read("churn.predictions")
    churned = catalog.read("silver.churn_labels").filter(pl.col("churned"))["customer_id"]
    customers = catalog.read("silver.customers")["customer_id"]
    assert churned.len() > 0  # only customers not already churned are scored
    not_churned = customers.filter(~customers.is_in(churned.implode())).unique()
    # ... and of those, the training set's population: active in the 30 days before as_of
    (as_of,) = predictions["as_of"].unique()
    active = catalog.read("gold.customer_engagement").filter(
        pl.col("feature_ts") == as_of, pl.col("events_30d") > 0)["customer_id"]
    inactive = not_churned.filter(~not_churned.is_in(active.implode()))
    assert inactive.len() > 0, "the population leaves customers gone unlabelled out"
    assert sorted(predictions["customer_id"]) == sorted(not_churned.filter(
        not_churned.is_in(active.implode())))
    assert predictions["model_version"].unique().to_list() == [
        alias_version(use_tracking(lakehouse.mlflow_tracking_uri), NAME, CHAMPION)]
    sample = predictions.head(20)
    rows = sample.select("customer_id", pl.col("as_of").alias("label_timestamp"))
    again = FeatureEngineeringClient(catalog).score_batch(f"models:/{NAME}@{CHAMPION}", rows)
    assert np.allclose(again["probability"].to_numpy(), sample["probability"].to_numpy())


def test_training_set_rows_are_of_the_population_batch_scoring_scores(
    lakehouse: Settings,
) -> None:
    """Training and batch scoring draw from one population (`TrainingSetSpec.population`):
    label rows outside it (here: no activity in 30 days) are left out of the training set."""
    client = FeatureEngineeringClient(Catalog(lakehouse.root, "dev"))
    spec = MODEL.training_set
    _, _, every = build_training_set(client, replace(spec, population=None))
    _, versions, frame = build_training_set(client, spec)
    left_out = every.filter(~(pl.col("events_30d") > 0).fill_null(False))
    assert left_out.height > 0
    assert frame.equals(every.filter(spec.in_population(every)))
    assert frame.height == every.height - left_out.height
    assert build_training_set(client, spec, versions)[2].equals(frame)  # rebuilt alike
