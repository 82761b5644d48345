"""Which process an MLflow run of the engine belongs to, and the runs a killed process left
RUNNING.

Every run the engine starts (a training run, `ml.candidate`; a drift report's run,
`monitoring.report`) carries the tags of `process_tags()`: this host's name, the process id
and, where `/proc` tells it (Linux), the boot and the process's start time, so that a pid
reused by a later process is not taken for the run's. A SIGKILL (or the OOM killer) ends the
process without ending its run, which MLflow then shows RUNNING for ever: `kill_dead_runs`
(called at the start of `lakehouse-ml run`) ends such runs KILLED, MLflow's status for a run
whose process was killed, with a tag saying why. Only runs of this host whose process is gone:
a live process's run, another host's, or one without these tags (started by someone else) is
never touched."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import MlflowClient

HOST = "lakehouse_ml.host"
PID = "lakehouse_ml.pid"
STARTED = "lakehouse_ml.process_started"
"""`<boot id>/<start time in clock ticks since boot>` of the run's process (Linux), or absent."""
ENDED_WHY = "lakehouse_ml.killed"
"""Tag `kill_dead_runs` sets on a run it ends: why it was ended KILLED, and by whom."""


def _started(pid: int) -> str | None:
    """`<boot id>/<start ticks>` of process `pid` from /proc (field 22 of its stat line), or
    None where /proc does not tell (another OS, no such process)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces: count after it
    return f"{boot}/{stat.rpartition(')')[2].split()[19]}"


def process_alive(pid: int) -> bool:
    """Whether a process `pid` exists on this host (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_tags() -> dict[str, str]:
    """The tags naming this process, for `mlflow.start_run(tags=...)`."""
    started = _started(os.getpid())
    return {HOST: socket.gethostname(), PID: str(os.getpid()),
            **({STARTED: started} if started else {})}


@dataclass(frozen=True)
class KilledRun:
    run_id: str
    name: str
    pid: int


def gone_pid(tags: Mapping[str, str]) -> int | None:
    """The pid of the process of a run with these tags (`process_tags`, on an MLflow or a
    Dagster run) when it is this host's and gone (a pid now held by a process started later
    counts as gone), else None."""
    if tags.get(HOST) != socket.gethostname() or not tags.get(PID, "").isdigit():
        return None
    pid = int(tags[PID])
    if not process_alive(pid):
        return pid
    recorded, now = tags.get(STARTED), _started(pid)
    return pid if recorded and now and recorded != now else None


def kill_dead_runs(client: MlflowClient) -> list[KilledRun]:
    """End KILLED every RUNNING run, in any active experiment of `client`'s store, whose
    process (its `process_tags`) was on this host and is gone, tagging it `ENDED_WHY`. Returns
    them, oldest first."""
    from mlflow.entities import RunStatus, ViewType

    experiments = [e.experiment_id for e in client.search_experiments(ViewType.ACTIVE_ONLY,
                                                                      max_results=50_000)]
    query = f"attributes.status = 'RUNNING' and tags.`{HOST}` = '{socket.gethostname()}'"
    found, token = [], None
    while experiments:
        page = client.search_runs(experiments, query, ViewType.ACTIVE_ONLY, max_results=1000,
                                  order_by=["attributes.start_time ASC"], page_token=token)
        found += page
        if not (token := page.token):
            break
    killed = []
    for run in found:
        pid = gone_pid(run.data.tags)
        if pid is None:
            continue
        client.set_tag(run.info.run_id, ENDED_WHY,
                       f"its process {pid} on {socket.gethostname()} was gone (killed) when "
                       "lakehouse-ml run started: ended KILLED")
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))
        killed.append(KilledRun(run.info.run_id, run.info.run_name or "", pid))
    return killed
