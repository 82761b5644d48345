"""Where the lakehouse lives, read once from the environment.

Every entry point (CLI, Dagster resources, tests) builds its paths from here so that
`LAKEHOUSE_ROOT`, `LAKEHOUSE_ENV` and `MLFLOW_TRACKING_URI` mean the same thing everywhere.
`LAKEHOUSE_ENV` is the catalog name and a directory under the root: one name part (lowercase
letters, digits, '_'), else `InvalidTableName`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = "data/lakehouse"
DEFAULT_LANDING = "data/landing"
DEFAULT_ENV = "dev"


def _absolute(location: str) -> str:
    """Local paths become absolute (delta-rs and Dagster subprocesses may change cwd)."""
    if "://" in location:
        return location
    return str(Path(location).expanduser().resolve())


@dataclass(frozen=True)
class Settings:
    root: str
    landing: str
    env: str
    mlflow_tracking_uri: str

    def __post_init__(self) -> None:
        from lakehouse_ml.catalog.names import validate_environment  # catalog imports config

        validate_environment(self.env)

    @classmethod
    def from_env(cls) -> Settings:
        """The settings the environment gives. A location set to an empty value counts as
        unset (the shell's `${VAR:-default}`): an empty MLFLOW_TRACKING_URI was MLflow's own
        default, a `mlflow.db` in whatever directory the process ran in, and an empty
        LAKEHOUSE_ROOT the current directory itself. An empty LAKEHOUSE_ENV, a catalog's
        name, is refused (`InvalidTableName`), never taken for the default catalog."""
        root = _absolute(_variable("LAKEHOUSE_ROOT", DEFAULT_ROOT))
        default_mlflow = f"sqlite:///{Path(root).parent / 'mlflow' / 'mlflow.db'}"
        return cls(
            root=root,
            landing=_absolute(_variable("LAKEHOUSE_LANDING", DEFAULT_LANDING)),
            env=os.environ.get("LAKEHOUSE_ENV", DEFAULT_ENV),  # empty: refused (a name)
            mlflow_tracking_uri=_variable("MLFLOW_TRACKING_URI", default_mlflow),
        )


def _variable(name: str, default: str) -> str:
    return os.environ.get(name) or default
