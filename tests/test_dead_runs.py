"""What a SIGKILLed process leaves running (a stranger's report 11c, finding 9): its Dagster
run STARTED and its MLflow run RUNNING for ever. At its start `lakehouse-ml run` marks the
Dagster run failed (as Dagster's run monitoring words it) and ends the MLflow run KILLED;
the runs of a live process, and an MLflow run of another host, are left alone. Real child
processes on a real Dagster SQLite instance and a real MLflow sqlite store."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import dagster as dg
import mlflow
import polars as pl
import pytest

from lakehouse_ml.cli.pipeline import end_dead_runs
from lakehouse_ml.ml.registry import use_experiment, use_tracking
from lakehouse_ml.ml.run_process import ENDED_WHY, HOST, PID, process_tags

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENT = "/dev/dead_runs"


@dg.op
def wait_to_be_killed() -> None:
    """Says it is running (the file $READY), then waits (the test ends the process)."""
    Path(os.environ["READY"]).write_text(str(os.getpid()))
    time.sleep(600)


@dg.job
def waits() -> None:
    wait_to_be_killed()


def begin_runs_in_this_process() -> None:
    """Child process body: an MLflow run started as the engine starts its runs (tagged with
    `process_tags`), inside it a Dagster run of `waits` on the instance at $DAGSTER_HOME."""
    client = use_tracking(os.environ["MLFLOW_TRACKING_URI"])
    use_experiment(client, EXPERIMENT)
    with mlflow.start_run(run_name="child", tags=process_tags()):
        waits.execute_in_process(instance=dg.DagsterInstance.get())


class Child(NamedTuple):
    process: subprocess.Popen
    ready: Path


class DagsterRun(NamedTuple):
    run_id: str
    status: dg.DagsterRunStatus
    failure: list[str]
    """Messages of its run failure events."""


class Ended(NamedTuple):
    """Statuses after `end_dead_runs`, by child ('killed', 'live'), and what it said."""
    dagster: dict[str, DagsterRun]
    not_started: dict[str, DagsterRun]
    """Runs created and never started: by the child whose pid their tags name, or `untagged`."""
    mlflow: dict[str, mlflow.entities.Run]
    elsewhere: mlflow.entities.Run
    said: list[str]
    pids: dict[str, int]


def _start(base: Path, name: str, env: dict[str, str]) -> Child:
    ready = base / f"{name}.ready"
    body = "from tests.test_dead_runs import begin_runs_in_this_process as run; run()"
    process = subprocess.Popen([sys.executable, "-c", body], cwd=ROOT,
                               env={**env, "READY": str(ready)})
    return Child(process, ready)


def _wait_ready(child: Child) -> None:
    deadline = time.monotonic() + 240
    while not child.ready.exists():
        assert time.monotonic() < deadline and child.process.poll() is None
        time.sleep(0.2)


def _run_of(instance: dg.DagsterInstance, run_id: str) -> DagsterRun:
    events = [e.dagster_event for e in instance.all_logs(run_id) if e.dagster_event]
    return DagsterRun(run_id, instance.get_run_by_id(run_id).status, [
        e.message or "" for e in events if e.event_type_value == "PIPELINE_FAILURE"])


def _dagster_run(instance: dg.DagsterInstance, pid: int) -> DagsterRun:
    """The run of `waits` that process `pid` executed."""
    for run in instance.get_runs():
        if any(e.dagster_event.pid == pid for e in instance.all_logs(run.run_id)
               if e.dagster_event):
            return _run_of(instance, run.run_id)
    raise AssertionError(f"no run of process {pid}")


def _not_started_tags(pids: dict[str, int]) -> dict[str, dict[str, str]]:
    """Tags of runs a process created and never started (`lakehouse-ml run` tags its runs with
    `process_tags`): the killed child's, the live child's, another host's, and none."""
    return {"killed": {HOST: socket.gethostname(), PID: str(pids["killed"])},
            "live": {HOST: socket.gethostname(), PID: str(pids["live"])},
            "elsewhere": {HOST: f"not-{socket.gethostname()}", PID: str(pids["killed"])},
            "untagged": {}}


@pytest.fixture(scope="module")
def ended(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ended]:
    """Two children each begin an MLflow and a Dagster run; one is SIGKILLed inside them, the
    other still runs when `end_dead_runs` (what `lakehouse-ml run` calls first) is called."""
    base = tmp_path_factory.mktemp("dead_runs")
    home = base / "dagster"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    uri = f"sqlite:///{base / 'mlflow' / 'mlflow.db'}"
    env = {**os.environ, "DAGSTER_HOME": str(home), "MLFLOW_TRACKING_URI": uri,
           "OMP_NUM_THREADS": "1"}
    client = use_tracking(uri)
    use_experiment(client, EXPERIMENT)  # created once, not raced by the children
    children: dict[str, Child] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(home))
        try:
            with dg.DagsterInstance.get() as instance:  # storage created once
                children = {name: _start(base, name, env) for name in ("killed", "live")}
                for child in children.values():
                    _wait_ready(child)
                children["killed"].process.send_signal(signal.SIGKILL)
                children["killed"].process.wait(timeout=60)
                pids = {name: c.process.pid for name, c in children.items()}
                experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id
                elsewhere = client.create_run(experiment, tags={
                    HOST: f"not-{socket.gethostname()}", PID: str(pids["killed"])})
                created = {name: instance.create_run_for_job(waits, tags=tags).run_id
                           for name, tags in _not_started_tags(pids).items()}
                said: list[str] = []
                end_dead_runs(instance, uri, said.append)
                dagster = {name: _dagster_run(instance, pid) for name, pid in pids.items()}
                not_started = {name: _run_of(instance, run_id)
                               for name, run_id in created.items()}
                found = {r.data.tags[PID]: r for r in client.search_runs([experiment])}
                yield Ended(dagster, not_started,
                            {name: found[str(pids[name])] for name in children},
                            client.get_run(elsewhere.info.run_id), said, pids)
        finally:
            for child in children.values():
                if child.process.poll() is None:
                    child.process.send_signal(signal.SIGKILL)
                    child.process.wait(timeout=60)


@pytest.mark.parametrize(("runs", "left", "when"), [
    ("dagster", "STARTED", ""),
    # killed between creating the run and starting it (a stranger's report 11d, finding 3):
    # no event names a process, the run's tags do
    ("not_started", "NOT_STARTED", " before the run started"),
])
def test_a_run_its_killed_process_left_is_marked_failed_saying_why(
        ended: Ended, runs: str, left: str, when: str) -> None:
    run = getattr(ended, runs)["killed"]
    assert run.status == dg.DagsterRunStatus.FAILURE
    assert run.failure == [
        f"Detected run worker status NOT_FOUND: 'process {ended.pids['killed']} on "
        f"{socket.gethostname()} is gone (killed){when}, seen by lakehouse-ml run'. Marking run "
        f"{run.run_id} as failed."]
    assert (f"dagster run {run.run_id} (waits) was left {left} by a process that is gone "
            "(killed): marked failed") in ended.said


def test_a_killed_processs_mlflow_run_is_ended_killed_saying_why(ended: Ended) -> None:
    run = ended.mlflow["killed"]
    assert run.info.status == "KILLED" and run.info.end_time is not None
    assert run.data.tags[ENDED_WHY].startswith(
        f"its process {ended.pids['killed']} on {socket.gethostname()} was gone (killed)")
    assert (f"mlflow run {run.info.run_id} (child) was left RUNNING by process "
            f"{ended.pids['killed']}, which is gone (killed): ended KILLED") in ended.said


def test_a_live_processs_runs_and_another_hosts_are_untouched(ended: Ended) -> None:
    assert ended.dagster["live"].status == dg.DagsterRunStatus.STARTED
    assert ended.dagster["live"].failure == []
    assert ended.mlflow["live"].info.status == "RUNNING"
    assert ended.elsewhere.info.status == "RUNNING"
    assert ENDED_WHY not in ended.elsewhere.data.tags
    assert len(ended.said) == 3


@pytest.mark.parametrize("whose", ["live", "elsewhere", "untagged"])
def test_a_run_not_started_by_a_live_process_another_host_or_no_one_known_is_untouched(
        ended: Ended, whose: str) -> None:
    assert ended.not_started[whose].status == dg.DagsterRunStatus.NOT_STARTED
    assert ended.not_started[whose].failure == []



def test_the_engines_training_and_drift_report_runs_name_their_process(tmp_path: Path) -> None:
    """`kill_dead_runs` finds a run's process by these tags: both runs the engine starts carry
    them (a run without them would stay RUNNING after a SIGKILL). Imported here: the child
    processes import this module and need none of it."""
    from lakehouse_ml.catalog import Catalog, TableInfo
    from lakehouse_ml.ml.candidate import train_candidate
    from lakehouse_ml.monitoring.report import Report, log_report
    from lakehouse_ml.monitoring.spec import Monitor
    from tests.test_boundaries_ml import SPEC, labelled

    catalog = Catalog(str(tmp_path / "lakehouse"), "dev")
    frame = labelled()
    catalog.create_table(SPEC.training_set.name, frame.schema, TableInfo(owner="t"))
    catalog.append(SPEC.training_set.name, frame)
    uri = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    client = use_tracking(uri)
    trained = train_candidate(catalog, client, SPEC).run_id
    page = tmp_path / "report.html"
    page.write_text("<html></html>")
    window = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))
    reported = log_report(uri, Report(page, (), ()), Monitor("gold.t", "snapshot"), "dev",
                          window, pl.DataFrame({"level": []}, schema={"level": pl.String}))
    for run_id in (trained, reported):
        tags = client.get_run(run_id).data.tags
        assert (tags[HOST], tags[PID]) == (socket.gethostname(), str(os.getpid()))
