"""MLflow's settings, URIs and active experiment are set without writing the environment:
`use_tracking` and `use_experiment` run in Dagster steps (beside the catalog's audit and
lineage writer threads), in CLI commands and at a server's start-up, and a training step logs
a model with its input example, while other threads may read the environment, and a libc
`setenv`/`unsetenv` then is not thread-safe (it crashed the test process). A subprocess runs
each entry point with a polars thread running and records every environment write Python
makes (the `os.putenv`/`os.unsetenv` audit events, which `os.environ` raises), and reads
MLflow's settings back below Python (libc `getenv`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lakehouse_ml.ml.mlflow_settings import HTTP_DEFAULTS, QUIET

SCRIPT = """
import ctypes, json, os, sys, threading

writes = []
recording = threading.Event()


def audit(event, args):
    if event in ("os.putenv", "os.unsetenv") and recording.is_set():
        writes.append(os.fsdecode(args[0]))


sys.addaudithook(audit)

import dagster as dg
import mlflow
import pandas as pd
import polars as pl
from mlflow import MlflowClient, environment_variables

from lakehouse_ml.cli import app
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.resources import MlflowResource
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.ml.mlflow_settings import HTTP_DEFAULTS, QUIET
from lakehouse_ml.ml.packaging import load_packaged, log_packaged
from lakehouse_ml.ml.registry import use_experiment
from lakehouse_ml.ml.train import build_pipeline
from lakehouse_ml.serving.config import ServingConfig
from lakehouse_ml.serving.server import uvicorn_server

stop = threading.Event()


def work():
    while not stop.wait(0.002):  # a running thread, not a busy core (2 per `make test`)
        pl.DataFrame({"x": range(100_000)}).select(pl.col("x").sum())


thread = threading.Thread(target=work, daemon=True)
thread.start()
recording.set()  # from here on other threads run: no write at all
steps = {}


def written(step, call):
    start = len(writes)
    try:
        outcome = str(call())
    except BaseException as error:  # an empty lakehouse: a command or server may refuse
        outcome = f"{type(error).__name__}: {error}"
    steps[step] = {"writes": writes[start:], "outcome": outcome,
                   "tracking": mlflow.get_tracking_uri(), "registry": mlflow.get_registry_uri()}


@dg.asset
def tracked(mlflow: MlflowResource) -> str:
    # what the training and monitoring steps do with the project's resource
    import mlflow as fluent

    use_experiment(mlflow.client(), "/dev/settings")
    with fluent.start_run() as run:
        fluent.log_metric("m", 1.0)
    return run.info.run_id


EXAMPLE = pd.DataFrame({"plan_tier": ["basic", "pro"] * 20, "orders_30d": range(40)})


@dg.asset
def trained(mlflow: MlflowResource) -> str:
    # what the training step does after fitting: log and register the model with an example
    import mlflow as fluent

    client = mlflow.client()
    use_experiment(client, "/dev/settings")
    pipeline = build_pipeline(MODEL, list(EXAMPLE)).fit(EXAMPLE, [0, 1, 1, 0] * 10)
    with fluent.start_run() as run:
        log_packaged(client, pipeline, "dev.churn.settings_test", MODEL.training_set,
                     list(EXAMPLE), EXAMPLE, ["scikit-learn", "skops"])
    return run.info.run_id


def step(uri, asset=tracked):
    result = dg.materialize([asset], resources={"mlflow": MlflowResource(tracking_uri=uri)})
    return result.output_for_node(asset.key.path[-1])


work_dir, with_steps = sys.argv[1], sys.argv[2] == "steps"
stores = {name: f"sqlite:///{work_dir}/{name}/mlflow.db" for name in ("a", "b")}
settings = Settings.from_env()
# the first MLflow use of the process is a CLI command's, with threads running
written("cli", lambda: app(["rollback", "--reason", "test"], standalone_mode=False))
if with_steps:
    written("step a", lambda: step(stores["a"]))
    written("step a again", lambda: step(stores["a"]))
    written("train a", lambda: step(stores["a"], trained))
    written("step b", lambda: step(stores["b"]))  # another URI while threads run
written("server", lambda: uvicorn_server(ServingConfig(settings, {"churn": MODEL}),
                                         "127.0.0.1", 0))
if with_steps:
    written("step a last", lambda: step(stores["a"]))
stop.set()
thread.join()
model = {}
if with_steps:  # the logged model kept its example and signature (store a is current)
    packaged = load_packaged("models:/dev.churn.settings_test/1")
    model = {"example": packaged.input_example.to_dict("list"),
             "signature": packaged.logged.signature.to_dict()["inputs"]}
runs = {}
for name, uri in stores.items() if with_steps else ():
    client = MlflowClient(uri, uri)
    experiment = client.get_experiment_by_name("/dev/settings")
    runs[name] = [r.info.run_id for r in client.search_runs([experiment.experiment_id])]
libc = ctypes.CDLL(None)
libc.getenv.restype = ctypes.c_char_p
names = [*HTTP_DEFAULTS, *QUIET]
print(json.dumps({
    "stores": stores,
    "lakehouse": settings.mlflow_tracking_uri,
    "steps": steps,
    "runs": runs,
    "model": model,
    "environ": {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")},
    "libc": {n: (libc.getenv(n.encode()) or b"").decode() for n in names},
    "values": {n: getattr(environment_variables, n).get() for n in names},
}))
"""


def run(tmp_path: Path, steps: bool, **env: str) -> dict:
    """The script's answer; `steps`: with the Dagster steps (else the CLI and server only)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    environ |= {"LAKEHOUSE_ROOT": str(tmp_path / "lakehouse"),
                "PYTHONPATH": str(Path(__file__).parents[1]), **env}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path),
                           "steps" if steps else "-"], env=environ,
                          text=True, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_steps_commands_and_servers_write_no_environment_once_threads_run(
    tmp_path: Path,
) -> None:
    """`lakehouse-ml rollback` (the process's first MLflow use), a Dagster step using the
    MLflow resource (the same URI twice, another URI), a training step logging a model with
    its input example, a server's start-up, then the first URI's step again, each with a
    polars thread running: no environment variable is written (MLflow's own `set_tracking_uri`
    and `set_experiment` wrote MLFLOW_TRACKING_URI and MLFLOW_EXPERIMENT_ID, and
    `mlflow.sklearn.log_model` set and deleted _MLFLOW_IS_IN_SERVING_ENVIRONMENT to check the
    example), yet MLflow points where each asked, each step's run is in its own store and the
    model keeps its input example and signature."""
    got = run(tmp_path, steps=True)
    stores, steps = got["stores"], got["steps"]
    assert {name: step["writes"] for name, step in steps.items()} == dict.fromkeys(steps, [])
    where = {name: step["tracking"] for name, step in steps.items()}
    assert where == {"step a": stores["a"], "step a again": stores["a"], "step b": stores["b"],
                     "train a": stores["a"], "cli": got["lakehouse"], "server": got["lakehouse"],
                     "step a last": stores["a"]}
    assert all(step["registry"] == step["tracking"] for step in steps.values())
    ran = {name: steps[name]["outcome"] for name in ("step a", "step a again", "step b",
                                                     "train a", "step a last")}
    assert sorted(got["runs"]["a"]) == sorted([ran["step a"], ran["step a again"],
                                               ran["train a"], ran["step a last"]])
    assert got["model"]["example"] == {"plan_tier": ["basic", "pro", "basic"],
                                       "orders_30d": [0, 1, 2]}  # the first 3 rows
    assert json.loads(got["model"]["signature"]) == [
        {"type": "string", "name": "plan_tier", "required": True},
        {"type": "long", "name": "orders_30d", "required": True}]
    assert got["runs"]["b"] == [ran["step b"]]
    # both ran their start-up, then found nothing to roll back or serve
    assert steps["cli"]["outcome"].startswith("CommandError: ")
    assert steps["server"]["outcome"].startswith("NoChampion: ")
    assert got["environ"] == {}
    assert got["libc"] == {name: "" for name in [*HTTP_DEFAULTS, *QUIET]}  # nor below Python
    assert got["values"] == HTTP_DEFAULTS | QUIET  # what MLflow reads


def test_a_value_the_environment_sets_still_wins(tmp_path: Path) -> None:
    got = run(tmp_path, steps=False, MLFLOW_HTTP_REQUEST_MAX_RETRIES="5",
              MLFLOW_DISABLE_TELEMETRY="false")
    assert [step["writes"] for step in got["steps"].values()] == [[], []]
    assert got["values"] == HTTP_DEFAULTS | QUIET | {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": 5,
                                                     "MLFLOW_DISABLE_TELEMETRY": False}


def test_a_new_store_does_not_keep_the_old_stores_active_experiment(tmp_path: Path) -> None:
    """An experiment id names an experiment of one store: after `use_tracking` points at
    another store, `mlflow.start_run` logs into that store's default experiment, not into
    (or failing on) the old store's id. A Dagster step, a test or a server that reached two
    stores in one process failed with "No Experiment with id=2 exists"."""
    import mlflow

    from lakehouse_ml.ml.registry import use_experiment, use_tracking

    first = use_tracking(f"sqlite:///{tmp_path / 'a' / 'mlflow.db'}")
    use_experiment(first, "one")
    assert use_experiment(first, "two") == "2"
    second = use_tracking(f"sqlite:///{tmp_path / 'b' / 'mlflow.db'}")
    with mlflow.start_run() as run:
        pass
    assert run.info.experiment_id == second.get_experiment_by_name("Default").experiment_id
    assert second.get_run(run.info.run_id).info.run_id == run.info.run_id
    assert first.search_runs(["1", "2"]) == []
