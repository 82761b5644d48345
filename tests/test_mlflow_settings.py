"""MLflow's settings are given without writing the environment: `use_tracking` and a server's
start-up run while other threads (polars here; delta-rs writers in a Dagster step) may read
the environment, and a libc `setenv` then is not thread-safe (it crashed the test process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lakehouse_ml.ml.mlflow_settings import HTTP_DEFAULTS, QUIET

SCRIPT = """
import ctypes, json, os, sys, threading
import polars as pl
from mlflow import environment_variables
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.ml.mlflow_settings import HTTP_DEFAULTS, QUIET
from lakehouse_ml.ml.registry import use_tracking
from lakehouse_ml.serving.config import ServingConfig
from lakehouse_ml.serving.server import uvicorn_server

stop = threading.Event()


def work():
    while not stop.is_set():
        pl.DataFrame({"x": range(100_000)}).select(pl.col("x").sum())


thread = threading.Thread(target=work, daemon=True)
thread.start()


def changes(before):
    now = os.environ
    return {k: now.get(k) for k in {*before, *now} if before.get(k) != now.get(k)}


uri = Settings.from_env().mlflow_tracking_uri
before = dict(os.environ)
use_tracking(uri)
first = changes(before)
before = dict(os.environ)
use_tracking(uri)
try:  # an empty lakehouse: nothing to serve, after the server's start-up settings
    uvicorn_server(ServingConfig(Settings.from_env(), {"churn": MODEL}), "127.0.0.1", 0)
    server = "started"
except Exception as error:
    server = type(error).__name__
stop.set()
thread.join()
libc = ctypes.CDLL(None)
libc.getenv.restype = ctypes.c_char_p
names = [*HTTP_DEFAULTS, *QUIET]
print(json.dumps({
    "uri": uri,
    "first": first,
    "then": changes(before),
    "libc": {n: (libc.getenv(n.encode()) or b"").decode() for n in names},
    "values": {n: getattr(environment_variables, n).get() for n in names},
    "server": server,
}))
"""


def run(tmp_path: Path, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    environ |= {"LAKEHOUSE_ROOT": str(tmp_path / "lakehouse"),
                "PYTHONPATH": str(Path(__file__).parents[1]), **env}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=environ, text=True,
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_tracking_and_serving_set_mlflow_s_defaults_without_writing_the_environment(
    tmp_path: Path,
) -> None:
    """The only environment write left is MLflow's own copy of the tracking URI
    (`mlflow.set_tracking_uri`, for its subprocesses), when the URI changes; the registry
    follows it unless another is set. A second `use_tracking` and a server's start-up on the
    same URI write nothing."""
    got = run(tmp_path)
    assert got["server"] != "started"  # it ran its start-up, then found nothing to serve
    assert got["first"] == {"MLFLOW_TRACKING_URI": got["uri"]}
    assert got["then"] == {}
    assert got["libc"] == {name: "" for name in [*HTTP_DEFAULTS, *QUIET]}  # nor below Python
    assert got["values"] == HTTP_DEFAULTS | QUIET  # what MLflow reads


def test_a_value_the_environment_sets_still_wins(tmp_path: Path) -> None:
    got = run(tmp_path, MLFLOW_HTTP_REQUEST_MAX_RETRIES="5", MLFLOW_DISABLE_TELEMETRY="false")
    assert got["then"] == {}
    assert got["values"] == HTTP_DEFAULTS | QUIET | {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": 5,
                                                     "MLFLOW_DISABLE_TELEMETRY": False}
