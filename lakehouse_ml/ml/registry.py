"""MLflow access: where runs and models live, and the aliases that say which version serves."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous_champion"


def _local_folder(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")).parent if uri.startswith("sqlite:///") else None


def use_tracking(uri: str) -> MlflowClient:
    """Point MLflow (tracking and registry) at `uri`; sqlite folders are created on demand."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # verified copies
    folder = _local_folder(uri)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(uri, uri)


def use_experiment(client: MlflowClient, name: str) -> str:
    """Select (creating if needed) an experiment; with an embedded sqlite store, artifacts go
    beside the database, not into the current directory."""
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        experiment_id = existing.experiment_id
    else:
        folder = _local_folder(client.tracking_uri)
        location = (folder / "artifacts").as_uri() if folder is not None else None
        experiment_id = client.create_experiment(name, artifact_location=location)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def alias_version(client: MlflowClient, model: str, alias: str) -> int | None:
    try:
        return int(client.get_model_version_by_alias(model, alias).version)
    except MlflowException:
        return None


def model_uri(model: str, version: int) -> str:
    return f"models:/{model}/{version}"
