"""The Makefile takes `DAGSTER_HOME` and `MLFLOW_TRACKING_URI` from the environment (issue 11,
item 10): real `make`, dry-run (`-n`) or a rule added on the command line, nothing executed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOW_HOME = "show-dagster-home: ; @echo $$DAGSTER_HOME"


def make(*args: str, **env: str) -> str:
    assert shutil.which("make"), "make is required"
    environ = {k: v for k, v in os.environ.items()
               if k not in {"DAGSTER_HOME", "MLFLOW_TRACKING_URI", "LAKEHOUSE_ROOT", "MAKEFLAGS"}}
    done = subprocess.run(["make", "-s", "-C", str(ROOT), *args], env={**environ, **env},
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def test_recipes_see_the_environments_dagster_home(tmp_path: Path) -> None:
    assert make("--eval", SHOW_HOME, "show-dagster-home",
                DAGSTER_HOME=str(tmp_path)).strip() == str(tmp_path)


def test_dagster_home_defaults_to_the_projects_data_folder() -> None:
    assert make("--eval", SHOW_HOME, "show-dagster-home").strip() == str(ROOT / "data/dagster")


@pytest.mark.parametrize(("env", "uri"), [
    ({"MLFLOW_TRACKING_URI": "sqlite:////srv/mlflow/runs.db"}, "sqlite:////srv/mlflow/runs.db"),
    ({"LAKEHOUSE_ROOT": "/srv/lh/lakehouse"}, "sqlite:////srv/lh/mlflow/mlflow.db"),
    ({}, f"sqlite:///{ROOT}/data/mlflow/mlflow.db"),
])
def test_mlflow_ui_reads_the_store_lakehouse_ml_writes_to(env: dict[str, str], uri: str) -> None:
    assert f"--backend-store-uri {uri} " in make("-n", "mlflow-ui", **env)
    if "MLFLOW_TRACKING_URI" not in env:  # lakehouse-ml's own default, for the same environment
        probe = "from lakehouse_ml.config import Settings; print(Settings.from_env()." \
                "mlflow_tracking_uri)"
        environ = {k: v for k, v in os.environ.items()
                   if k not in {"MLFLOW_TRACKING_URI", "LAKEHOUSE_ROOT"}}
        done = subprocess.run([str(ROOT / ".venv/bin/python"), "-c", probe], cwd=ROOT,
                              env={**environ, **env}, capture_output=True, text=True,
                              timeout=60, check=True)
        assert done.stdout.strip() == uri
