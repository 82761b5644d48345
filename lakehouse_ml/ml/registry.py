"""MLflow access: where runs and models live, and the aliases that say which version serves."""

from __future__ import annotations

from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from lakehouse_ml.ml.mlflow_settings import activate_experiment, point_at, use_project_defaults

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous_champion"
_MISSING = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")
"""Error codes of a registered model or alias that does not exist."""


class TrackingUnavailable(RuntimeError):
    """The MLflow tracking server cannot be reached; the message names its URI."""


def _local_folder(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")).parent if uri.startswith("sqlite:///") else None


def use_tracking(uri: str) -> MlflowClient:
    """Point MLflow (tracking and registry) at `uri` and return a client of it; sqlite folders
    are created on demand, HTTP calls are bounded by `mlflow_settings.HTTP_DEFAULTS`. Writes
    no environment variable (`mlflow_settings.point_at`): it runs in Dagster steps, servers
    and CLI commands while other threads may read the environment."""
    use_project_defaults()
    folder = _local_folder(uri)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    point_at(uri)
    return MlflowClient(uri, uri)


def tracking_client() -> MlflowClient:
    """A client of MLflow's tracking URI when one is set (`use_tracking`,
    `mlflow.set_tracking_uri` or `$MLFLOW_TRACKING_URI`), else of the lakehouse's own store
    (`Settings.from_env().mlflow_tracking_uri`, beside the lakehouse root): never MLflow's
    built-in default, a `mlflow.db` in whatever directory the process runs in."""
    if mlflow.tracking.is_tracking_uri_set():
        return MlflowClient()
    from lakehouse_ml.config import Settings

    uri = Settings.from_env().mlflow_tracking_uri
    return MlflowClient(uri, uri)


def use_experiment(client: MlflowClient, name: str) -> str:
    """Select (creating if needed) the experiment `name` for `mlflow.start_run`, without an
    environment write (`mlflow_settings.activate_experiment`); with an embedded sqlite store,
    artifacts go beside the database, not into the current directory. Returns its id;
    MlflowException for a deleted experiment of that name."""
    existing = client.get_experiment_by_name(name)
    if existing is None:
        folder = _local_folder(client.tracking_uri)
        location = (folder / "artifacts").as_uri() if folder is not None else None
        existing = client.get_experiment(client.create_experiment(name,
                                                                  artifact_location=location))
    activate_experiment(existing)
    return existing.experiment_id


def unreachable(uri: str, error: MlflowException) -> TrackingUnavailable | None:
    """`error` as `TrackingUnavailable` naming `uri` if the server could not be reached (no
    connection, or no answer in time), else None."""
    cause = error.__cause__ or error.__context__
    if not isinstance(cause, OSError):  # requests' errors are OSErrors
        return None
    reason = getattr(cause.args[0], "reason", cause) if cause.args else cause
    return TrackingUnavailable(
        f"MLflow tracking server {uri} (MLFLOW_TRACKING_URI) cannot be reached: "
        f"{str(reason).rsplit(': ', 1)[-1]}")


def alias_version(client: MlflowClient, model: str, alias: str) -> int | None:
    """The version `alias` points to, None if the model or alias does not exist. Raises
    `TrackingUnavailable` when the tracking server cannot be reached, and any other MLflow
    error as it is (never taken for a missing alias)."""
    try:
        return int(client.get_model_version_by_alias(model, alias).version)
    except MlflowException as error:
        if error.error_code in _MISSING:
            return None
        unavailable = unreachable(client.tracking_uri, error)
        if unavailable is None:
            raise
        raise unavailable from error


def model_uri(model: str, version: int) -> str:
    return f"models:/{model}/{version}"
