"""A second domain with its own model, declared beside churn, runs through the real code
location (`lakehouse_ml.definitions`, loaded from the defs folder): each domain's jobs by name,
its own partitions, its own assets, and the model trained, deployed and scored."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.definitions import defs
from lakehouse_ml.domains.churn.generator import generate
from lakehouse_ml.ml.registry import CHAMPION, alias_version, use_tracking
from tests.user_domains import declare_user_domains

CHURN_START, FLEET_START = date(2026, 3, 1), date(2026, 2, 1)
FLEET_DAYS = [FLEET_START + timedelta(days=i) for i in range(4)]


def _range(first: str, last: str) -> dict[str, str]:
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}


def _layout(result: dg.ExecuteInProcessResult) -> list[dg.AssetCheckEvaluation]:
    return [e for e in result.get_asset_check_evaluations() if e.check_name == "landing_layout"]


def test_two_domains_with_models_run_side_by_side_in_one_code_location(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    # an MLflow store of this test's own, whatever the worker's environment holds
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{Path(settings.root).parent}/mlflow.db")
    settings = Settings.from_env()
    fleet = declare_user_domains(monkeypatch)
    generate(Path(settings.landing), customers=30, days=3, start=CHURN_START, seed=3,
             progress=False)
    for day in FLEET_DAYS:
        fleet.land_day(settings.landing, day, labels=day != FLEET_START)

    definitions = defs()  # the defs folder, as `dagster dev` and the webserver load it

    churn_job = definitions.resolve_job_def("churn_daily_refresh")
    fleet_job = definitions.resolve_job_def("fleet_daily_refresh")
    # partitions start where each domain's data starts: different starts coexist
    assert churn_job.partitions_def.get_first_partition_key() == CHURN_START.isoformat()
    assert fleet_job.partitions_def.get_first_partition_key() == FLEET_START.isoformat()
    fleet_keys = {k.to_user_string() for k in fleet_job.asset_layer.executable_asset_keys}
    assert fleet_keys == {"bronze/pings", "bronze/breakdowns", "silver/pings",
                          "silver/breakdowns", "gold/vehicle_days", "gold/vehicle_heat"}
    # op names are the model's: both models' graphs live in one location
    ops = {n.name for job in ("churn_clf_train_validate_deploy",
                              "breakdown_clf_train_validate_deploy")
           for n in definitions.resolve_job_def(job).all_node_defs}
    assert {"churn_clf_train_model", "breakdown_clf_train_model"} <= ops
    repository = definitions.get_repository_def()
    assert {"fleet_daily_refresh_schedule", "fleet_weekly_maintenance_schedule",
            "sensors_daily_refresh_schedule", "churn_daily_refresh_schedule"} <= {
        s.name for s in repository.schedule_defs}

    churn = churn_job.execute_in_process(instance=instance, tags=_range("2026-03-01",
                                                                        "2026-03-03"))
    refreshed = fleet_job.execute_in_process(instance=instance, tags=_range(
        FLEET_DAYS[0].isoformat(), FLEET_DAYS[-1].isoformat()))

    assert churn.success and refreshed.success
    # neither domain's landing_layout check reports the other domain's folders as strays
    assert all(e.passed for e in _layout(churn) + _layout(refreshed))
    catalog = Catalog(settings.root, settings.env)
    gold = catalog.read("gold.vehicle_days").sort("vehicle_id", "day")
    assert gold.height == 8 * len(FLEET_DAYS)
    assert gold.filter(pl.col("vehicle_id") == "v1")["max_temp"].to_list() == [111.0] * 4
    assert catalog.read("gold.daily_activity").height > 0

    trained = definitions.resolve_job_def("breakdown_clf_train_validate_deploy"
                                          ).execute_in_process(instance=instance)
    scored = definitions.resolve_job_def("breakdown_clf_batch_score"
                                         ).execute_in_process(instance=instance)

    assert trained.success and scored.success
    client = use_tracking(settings.mlflow_tracking_uri)
    assert alias_version(client, "dev.fleet.breakdown_clf", CHAMPION) == 1
    assert alias_version(client, "dev.churn.churn_clf", CHAMPION) is None
    predictions = catalog.read("fleet.predictions").sort("vehicle_id")
    # only vehicles that have not broken down are eligible; as of the newest heat snapshot,
    # read from the feature table's own time column (heat_ts, not churn's feature_ts)
    assert predictions["vehicle_id"].to_list() == list(fleet.COLD)
    newest = datetime.combine(FLEET_DAYS[-1] + timedelta(days=1), datetime.min.time(), UTC)
    assert predictions["as_of"].unique().to_list() == [newest]
    assert (predictions["probability"] < 0.5).all()
