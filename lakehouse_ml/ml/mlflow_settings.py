"""MLflow's process-wide state of every lakehouse_ml process, set without writing the environment.

MLflow reads each setting (`mlflow.environment_variables`) from `os.environ` when it needs it
and falls back to the variable's `default`. Writing `os.environ` is a libc `setenv`, which is
not thread-safe while other threads (delta-rs writers, polars, uvicorn) read the environment:
such a write in a running process crashed the test process (as `polars.Config` did,
5f35a08/d9e2d87). So `use_project_defaults` replaces the variables' defaults instead (a Python
attribute; the environment is not touched), and a value the process environment sets still
wins. Likewise `point_at` and `activate_experiment` do what `mlflow.set_tracking_uri`,
`set_registry_uri` and `set_experiment` do in memory, without the copy those make into
`MLFLOW_TRACKING_URI`, `MLFLOW_REGISTRY_URI` and `MLFLOW_EXPERIMENT_ID` (for MLflow's
subprocesses: lakehouse_ml starts none that reads them, and gives its own children their
settings). They set MLflow's module state of the installed version (3.17): each checks through
MLflow's public getters that it took effect and raises RuntimeError otherwise.
"""

from __future__ import annotations

import mlflow
from mlflow import environment_variables
from mlflow.entities import LifecycleStage
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.tracing.provider import reset as reset_tracer_provider
from mlflow.tracking import fluent
from mlflow.tracking._model_registry import utils as registry_state
from mlflow.tracking._tracking_service import utils as tracking_state

HTTP_DEFAULTS: dict[str, int] = {"MLFLOW_HTTP_REQUEST_TIMEOUT": 10,
                                 "MLFLOW_HTTP_REQUEST_MAX_RETRIES": 2,
                                 "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": 1}
"""MLflow's HTTP settings unless the environment sets them: a tracking server that does not
answer fails a call within about 35 s (10 s per attempt, 3 attempts), one that refuses
connections within seconds, instead of MLflow's minutes (120 s, 7 retries, backoff 2)."""
QUIET: dict[str, bool] = {"MLFLOW_DISABLE_TELEMETRY": True,
                          "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": False}
"""No telemetry; no artifact progress bars on stderr (artifact copies are verified instead)."""


def use_project_defaults() -> None:
    """Make `HTTP_DEFAULTS` and `QUIET` MLflow's defaults in this process (idempotent; safe
    with other threads running: no environment write). Variables set in the environment keep
    their values."""
    for name, value in (HTTP_DEFAULTS | QUIET).items():
        getattr(environment_variables, name).default = value


def _took(what: str, got: str | None, wanted: str) -> None:
    if got != wanted:
        raise RuntimeError(f"MLflow {mlflow.__version__} did not take the {what} {wanted!r} "
                           f"(it reads {got!r}): lakehouse_ml sets MLflow 3.17's module state")


def point_at(uri: str) -> None:
    """Make `uri` this process's MLflow tracking and model registry URI (what
    `mlflow.start_run`, `MlflowClient()` and `models:/` sources use), as
    `mlflow.set_tracking_uri(uri)` and `mlflow.set_registry_uri(uri)` do, with no environment
    write (safe with other threads running; any URI, at any time). Idempotent; on a change
    the tracer provider is reset, as `set_tracking_uri` does, and the active experiment is
    dropped (unlike `set_tracking_uri`): an experiment id names an experiment of one store,
    and kept it would send the next `mlflow.start_run` to an experiment of the old store, or
    to none ("No Experiment with id=2 exists"). RuntimeError if MLflow does not then answer
    `uri` for both."""
    if tracking_state._tracking_uri != uri:
        tracking_state._tracking_uri = uri
        fluent._active_experiment_id = None
        reset_tracer_provider()
    if mlflow.get_registry_uri() != uri:
        registry_state._registry_uri = uri
    _took("tracking URI", mlflow.get_tracking_uri(), uri)
    _took("registry URI", mlflow.get_registry_uri(), uri)


def activate_experiment(experiment: mlflow.entities.Experiment) -> None:
    """Make `experiment` the one `mlflow.start_run` uses in this process, as
    `mlflow.set_experiment(experiment_id=...)` does, with no environment write. A deleted
    experiment is refused as `set_experiment` refuses it (MlflowException); RuntimeError if
    MLflow does not then answer its id."""
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
        raise MlflowException(
            f"Cannot set a deleted experiment {experiment.name!r} as the active experiment. "
            "You can restore the experiment, or permanently delete the experiment to create "
            "a new one.", error_code=INVALID_PARAMETER_VALUE)
    fluent._active_experiment_id = experiment.experiment_id
    _took("active experiment", fluent._get_experiment_id(), experiment.experiment_id)
