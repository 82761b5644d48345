"""Concurrency pools on the project's Dagster instance (the shipped `dagster.yaml`): processes
opening a fresh `DAGSTER_HOME` at once, and steps claiming a pool's one slot at once."""

from __future__ import annotations

import multiprocessing
import os
import shutil
from multiprocessing.synchronize import Barrier
from pathlib import Path

import dagster as dg
import pytest

from lakehouse_ml.dagster_storage import PoolSafeSqliteEventLogStorage

ROOT = Path(__file__).resolve().parent.parent
POOL = "ingest_readings"
STARTERS = 4
processes = multiprocessing.get_context("forkserver")  # forked from a server without threads
processes.set_forkserver_preload(["dagster", "lakehouse_ml.dagster_storage"])


def claim_at_once(home: str, barrier: Barrier, run_id: str, open_first: bool,
                  results: multiprocessing.Queue) -> None:
    """One run's process starting: open the instance at `home` (before or after the
    others are ready), then, with every other at the same moment, claim a slot of POOL for one
    step, as a run's step does (creating the pool at the instance's default limit the first
    time). Puts what it got, or the error it met, on `results`."""
    os.environ["DAGSTER_HOME"] = home  # the fork server's environment is the first test's
    try:
        if open_first:
            instance = dg.DagsterInstance.get()
            barrier.wait()
        else:
            barrier.wait()
            instance = dg.DagsterInstance.get()
        storage = instance.event_log_storage
        if POOL not in storage.get_concurrency_keys():
            storage.initialize_concurrency_limit_to_default(POOL)
        status = storage.claim_concurrency_slot(POOL, run_id, "ingest")
        results.put((run_id, "claimed" if status.is_claimed else "blocked"))
    except Exception as error:  # reported to the test, which names it
        results.put((run_id, f"{type(error).__name__}: {error}"))


def _claim_round(home: Path, name: str, *, open_first: bool) -> dict[str, str]:
    """Run id → what its claim got, for STARTERS processes starting a run at once."""
    barrier, results = processes.Barrier(STARTERS), processes.Queue()
    starters = [processes.Process(target=claim_at_once,
                                  args=(str(home), barrier, f"{name}-{n}", open_first,
                                        results))
                for n in range(STARTERS)]
    for starter in starters:
        starter.start()
    outcome = dict(results.get(timeout=300) for _ in starters)
    for starter in starters:
        starter.join(timeout=60)
    return outcome


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DAGSTER_HOME holding the project's dagster.yaml, as `lakehouse-ml run` makes."""
    folder = tmp_path / "dagster_home"
    folder.mkdir()
    shutil.copy(ROOT / "dagster.yaml", folder / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(folder))
    return folder


def test_processes_opening_a_fresh_instance_at_once_all_open_it_and_one_claims_the_slot(
    home: Path,
) -> None:
    """The first-ever runs: every process creates the databases and the pool at once."""
    outcome = _claim_round(home, "fresh", open_first=False)

    assert sorted(outcome.values()) == ["blocked"] * (STARTERS - 1) + ["claimed"], outcome
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, PoolSafeSqliteEventLogStorage)
        info = instance.event_log_storage.get_concurrency_info(POOL)
        assert (info.slot_count, info.limit) == (1, 1)
        (holder,) = [slot.run_id for slot in info.claimed_slots]
        assert outcome[holder] == "claimed"


def test_steps_claiming_a_pools_one_slot_at_once_get_it_one_at_a_time(home: Path) -> None:
    """Dagster's SQLite storage gave the one slot to several of them (SQLite ignores `SELECT
    ... FOR UPDATE SKIP LOCKED`), whether the pool existed before or not."""
    with dg.DagsterInstance.get() as instance:
        instance.event_log_storage.initialize_concurrency_limit_to_default(POOL)

    for name in ("first", "second"):
        outcome = _claim_round(home, name, open_first=True)

        assert sorted(outcome.values()) == ["blocked"] * (STARTERS - 1) + ["claimed"], outcome
        (holder,) = [run for run, status in outcome.items() if status == "claimed"]
        with dg.DagsterInstance.get() as instance:
            storage = instance.event_log_storage
            assert [slot.run_id for slot in storage.get_concurrency_info(POOL).claimed_slots] == [
                holder]
            for run_id in outcome:  # the runs end: their slot and queued steps are freed
                storage.free_concurrency_slots_for_run(run_id)
            assert storage.get_concurrency_info(POOL).claimed_slots == []
