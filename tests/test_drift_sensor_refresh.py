"""The drift sensor reads what a real monitor refresh writes: scores whose logged input
`sessions_30d` shifts on day 3 launch retraining once that day is refreshed, naming that
column only, and not before."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories import names
from lakehouse_ml.defs.factories.sensors import drift_sensor
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.ml.registry import use_tracking
from lakehouse_ml.monitoring.refresh import refresh
from lakehouse_ml.monitoring.spec import BaselineTable, InferenceLog, Monitor, RetrainingPolicy

T0 = datetime(2026, 3, 1, tzinfo=UTC)
TABLE, REFERENCE = MODEL.predictions_table, "gold.engagement_reference"
MONITOR = Monitor(TABLE, "inference_log", timestamp_col="as_of", exclude=("customer_id",),
                  baseline=BaselineTable(REFERENCE), inference_log=InferenceLog(
                      model_id_col="model_version", prediction_col="prediction",
                      probability_col="probability", model=MODEL.name))
POLICY = RetrainingPolicy(MODEL.name, on_drift_level="ERROR", min_columns=1)


def snapshots(day: int, shift: float = 0.0, n: int = 400) -> pl.DataFrame:
    """A day's scores with the inputs scored (the probability drifts whatever the inputs do:
    an output, never an input)."""
    rng = np.random.default_rng(day)
    probability = rng.uniform(0, 1, n) ** (day + 1)
    return pl.DataFrame({
        "customer_id": np.arange(n), "as_of": [T0 + timedelta(days=day)] * n,
        "probability": probability, "prediction": probability >= 0.5, "model_version": 1,
        "sessions_30d": rng.normal(10 + shift, 2, n), "events_7d": rng.normal(30, 5, n),
    }, schema={"customer_id": pl.Int64, "as_of": pl.Datetime("us", "UTC"),
               "probability": pl.Float64, "prediction": pl.Boolean, "model_version": pl.Int64,
               "sessions_30d": pl.Float64, "events_7d": pl.Float64})


def tick(settings: Settings, instance: dg.DagsterInstance) -> dg.SensorResult:
    resources = {"lakehouse": LakehouseResource.from_settings(settings)}
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        return drift_sensor(MODEL, POLICY, (MONITOR,)).evaluate_tick(context)


def test_the_sensor_launches_on_drift_a_refresh_measured(
    settings: Settings, catalog: Catalog, tmp_path: Path
) -> None:
    client = use_tracking(f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}")  # no champion
    instance = dg.DagsterInstance.ephemeral()
    for table in (TABLE, REFERENCE):
        catalog.create_table(table, snapshots(0).schema, TableInfo(owner="team:ml"))
    catalog.append(REFERENCE, pl.concat([snapshots(100 + d) for d in range(3)]))
    catalog.append(TABLE, pl.concat([snapshots(0), snapshots(1)]))
    refresh(catalog, MONITOR, client=client)

    quiet = tick(settings, instance)
    assert not quiet.run_requests
    assert quiet.skip_message.startswith(
        "no breach, window 2026-03-02T00:00:00Z: 0 input column(s) at ERROR drift")

    catalog.append(TABLE, snapshots(2, shift=6.0))
    refresh(catalog, MONITOR, client=client)
    (request,) = tick(settings, instance).run_requests

    assert request.run_key == f"{MODEL.name}@2026-03-03T00:00:00Z"
    evidence = json.loads(request.tags[names.EVIDENCE_TAG])
    assert [(d["column"], d["level"]) for d in evidence["drifting"]] == [
        ("sessions_30d", "ERROR")]
    assert evidence["drifting"][0]["value"] >= 0.2
