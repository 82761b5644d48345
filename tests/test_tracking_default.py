"""Library calls that take MLflow's current tracking URI never fall back to MLflow's built-in
default (a `mlflow.db` in the current directory): with none set they use the lakehouse's own
store, beside its root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
from lakehouse_ml.ml.registry import tracking_client
client = tracking_client()
client.search_registered_models()
print(client.tracking_uri)
"""


@pytest.mark.parametrize("unset", [{}, {"MLFLOW_TRACKING_URI": ""}], ids=["unset", "empty"])
def test_with_no_tracking_uri_set_the_lakehouse_store_is_used_not_the_cwd(
        tmp_path: Path, unset: dict[str, str]) -> None:
    """An empty MLFLOW_TRACKING_URI (`export MLFLOW_TRACKING_URI=`, which the Makefile's `?=`
    passes on as set) is no URI either."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"} | unset
    env |= {"LAKEHOUSE_ROOT": str(tmp_path / "lake" / "lakehouse"),
            "PYTHONPATH": str(Path(__file__).parents[1])}
    work = tmp_path / "cwd"
    work.mkdir()
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=work, env=env, text=True,
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"sqlite:///{tmp_path / 'lake' / 'mlflow' / 'mlflow.db'}"
    assert list(work.iterdir()) == [], "nothing written into the current directory"
