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
