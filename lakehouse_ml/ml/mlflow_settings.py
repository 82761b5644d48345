"""MLflow settings of every lakehouse_ml process, given without writing the environment.

MLflow reads each setting (`mlflow.environment_variables`) from `os.environ` when it needs it
and falls back to the variable's `default`. Writing `os.environ` is a libc `setenv`, which is
not thread-safe while other threads (delta-rs writers, polars) read the environment: such a
write in a running process crashed the test process (as `polars.Config` did, 5f35a08/d9e2d87).
So `use_project_defaults` replaces the variables' defaults instead (a Python attribute; the
environment is not touched), and a value the process environment sets still wins.
"""

from __future__ import annotations

from mlflow import environment_variables

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
