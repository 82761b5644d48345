"""What every process pays at start: a Dagster code server, a `lakehouse-ml` command or a
child run imports the CLI and the domains; a module that only one path needs loads there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_code_location_does_not_import_skops_until_a_model_loads() -> None:
    """skops lists every scikit-learn estimator when imported (~3 CPU-s per process): only
    `load_pipeline` (and MLflow saving a model) needs it."""
    probe = ("import sys, lakehouse_ml.cli, lakehouse_ml.domains.churn; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'skops'))")
    found = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
    assert found.returncode == 0, found.stderr[-2000:]
    assert found.stdout.strip() == "[]"


def test_loading_the_definitions_imports_no_training_serving_or_plotting_library(
        tmp_path: Path) -> None:
    """A code server, `lakehouse-ml run` and every Dagster run load the whole code location;
    MLflow, scikit-learn, matplotlib and FastAPI (~3 CPU-s and ~150 MiB a process) are
    imported by the steps, sensors and commands that use them, not by the definitions (a daily
    refresh of the data uses none of them). So is openlineage-python (~1 s with the HTTP
    clients it imports): only making or sending an event (its sensors, `lakehouse-ml run`
    once the run has ended) imports it."""
    heavy = ("mlflow", "sklearn", "matplotlib", "fastapi", "great_expectations", "openlineage")
    probe = ("import sys; import lakehouse_ml.cli.pipeline; "
             "from lakehouse_ml.definitions import defs; "
             "names = [j.name for j in defs().resolve_all_job_defs()]; "
             f"print(len(names), sorted({{m.split('.')[0] for m in sys.modules}} & {set(heavy)}))")
    env = {"PATH": "/usr/bin:/bin", "LAKEHOUSE_ROOT": str(tmp_path / "lake"),
           "LAKEHOUSE_LANDING": str(tmp_path / "landing"), "LAKEHOUSE_ENV": "dev",
           "DAGSTER_HOME": str(tmp_path / "dagster"),
           "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    (tmp_path / "dagster").mkdir()
    found = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                           text=True, timeout=300, env=env)
    assert found.returncode == 0, found.stderr[-2000:]
    jobs, imported = found.stdout.split(" ", 1)
    assert int(jobs) > 5  # the definitions did load: churn's jobs, the catalog's, ...
    assert imported.strip() == "[]"
