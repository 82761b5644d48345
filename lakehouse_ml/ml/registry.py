"""MLflow access: where runs and models live, and the aliases that say which version serves."""

from __future__ import annotations

import os

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous_champion"


def use_tracking(uri: str) -> MlflowClient:
    """Point MLflow (tracking and registry) at `uri`; sqlite folders are created on demand."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    if uri.startswith("sqlite:///"):
        from pathlib import Path

        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(uri, uri)


def alias_version(client: MlflowClient, model: str, alias: str) -> int | None:
    try:
        return int(client.get_model_version_by_alias(model, alias).version)
    except MlflowException:
        return None


def model_uri(model: str, version: int) -> str:
    return f"models:/{model}/{version}"
