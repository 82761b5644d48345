"""The bronze asset in Dagster: every stray path reported, `run`'s date range, and one bronze
step per source at a time under the shipped instance config (issue 9, items 5 and 7)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import dagster as dg
import pytest

from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.medallion import landed_days, medallion_assets
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.domains.churn import DOMAIN
from tests.test_ingest_bronze import DAY, land
from tests.test_ingest_landing import ev, jl

ROOT = Path(__file__).resolve().parent.parent
STEP_EVENTS = ("STEP_START", "STEP_SUCCESS")


def materialize_bronze(
    settings: Settings, instance: dg.DagsterInstance | None = None,
    sources: tuple[str, ...] = ("events",),
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        medallion_assets(DOMAIN), selection=[dg.AssetKey(["bronze", s]) for s in sources],
        partition_key=DAY, resources={"lakehouse": LakehouseResource.from_settings(settings)},
        instance=instance,
    )


def test_every_path_outside_the_layout_is_reported_by_a_warning(settings: Settings) -> None:
    """The events asset lists the strays of events/ (and Events/); what lies beside the
    source folders belongs to no domain: every source's check lists it apart, under
    `undeclared_folders`, and says so, without deciding the check (customers, the domain's
    first source, passes: it used to answer for those paths)."""
    land(settings, f"events/{DAY}/ok.json", jl(ev(1)))
    strays = ["events/2026-3-1/a.json", "events/latest/b.json", "events/2020-01-01/f.json",
              f"Events/{DAY}/c.json", f"events/{DAY}/retry/d.json",
              "events/2099-01-01/h.json"]  # a mistyped day: after tomorrow, never run
    for path in [*strays, "exports/e.json", "exports/2026-03-01/g.json", "notes.txt"]:
        land(settings, path, jl(ev(2)))
    land(settings, "_generator.json", b"{}")  # markers beside the data are not strays
    result = materialize_bronze(settings, sources=("customers", "events"))
    checks = {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()
              if e.check_name == "landing_layout"}
    events, customers = checks["events"], checks["customers"]
    assert not events.passed and events.severity == dg.AssetCheckSeverity.WARN
    assert events.metadata["not_ingested"].value == len(strays)
    assert all(path in events.metadata["paths"].value for path in strays)
    listed = events.metadata["paths"].value
    assert all(reason in listed for reason in ("case-sensitive", "sub-folder", "YYYY-MM-DD",
                                               "before the first partition",
                                               "(tomorrow, UTC): not run"))
    assert "exports" not in listed and "notes.txt" not in listed
    assert customers.passed and customers.metadata["not_ingested"].value == 0
    for check in (events, customers):
        assert check.description == (
            "3 path(s) at the landing root belong to no domain and are not ingested: Events/, "
            "exports/, notes.txt (listed under undeclared_folders; they do not decide this "
            "check)")
        assert check.metadata["undeclared_folders"].value.splitlines()[2:] == [
            "| Events/ | no domain declares it: its 1 file(s) are not ingested (event… |",
            "| exports/ | no domain declares it: its 2 file(s) are not ingested |",
            "| notes.txt | at the landing root, in no source folder: not ingested |"]


def test_runs_date_range_ignores_folders_that_are_not_days(settings: Settings) -> None:
    for folder in ("0-old", "zz-old", "2026-3-1", "2026-02-30", "2026-03-02", "2026-03-05",
                   "2099-01-01"):  # after tomorrow: left out (a mistyped day)
        land(settings, f"events/{folder}/a.json", jl(ev(1)))
    assert landed_days(settings.landing, DOMAIN) == ["2026-03-02", "2026-03-05"]


def materialize_events_in_this_process() -> None:
    """Child process body: one run of bronze/events on the instance at $DAGSTER_HOME."""
    result = materialize_bronze(Settings.from_env(), dg.DagsterInstance.get())
    assert result.success


class Contention(NamedTuple):
    """What happened to runs of bronze/events in child processes on one instance configured
    with the shipped dagster.yaml (see `contention`)."""
    stuck: list[str]
    """Run ids holding a pool slot after the first run was SIGKILLed inside its step."""
    released: list[str]
    stuck_status: list[dg.DagsterRunStatus]
    exit_codes: list[int]
    """Of the two runs started at once after the release."""
    spans: list[tuple[float, float]]
    """(STEP_START, STEP_SUCCESS) times of the bronze step of each run that succeeded."""


@pytest.fixture(scope="module")
def contention(tmp_path_factory: pytest.TempPathFactory) -> Contention:
    """40 landed event files and a Dagster home holding the shipped dagster.yaml. A run is
    SIGKILLed inside its bronze step (it keeps its `ingest_events` slot), the slots of runs
    whose process is gone are released as `lakehouse-ml run` does, then two runs start at once.
    One set of child processes (each imports Dagster) serves this module's tests."""
    # here, not at the top: each child imports this module, and the CLI costs it ~1.5 CPU-s
    from lakehouse_ml.cli.pipeline import release_dead_runs

    base = tmp_path_factory.mktemp("contention")
    settings = Settings(str(base / "lakehouse"), str(base / "landing"), "dev",
                        f"sqlite:///{base / 'mlflow.db'}")
    for part in range(40):
        land(settings, f"events/{DAY}/part-{part:02d}.json",
             jl(*[ev(10_000 * part + i, tags=[i]) for i in range(500)]))
    home = base / "dagster"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "LAKEHOUSE_ROOT": settings.root,
           "LAKEHOUSE_LANDING": settings.landing, "LAKEHOUSE_ENV": settings.env,
           "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri}
    child = "from tests.test_ingest_dagster import materialize_events_in_this_process as run; run()"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(home))
        with dg.DagsterInstance.get() as instance:  # storage created once, not raced by runs
            killed = subprocess.Popen([sys.executable, "-c", child], cwd=ROOT, env=env)
            deadline = time.monotonic() + 240
            while not instance.event_log_storage.get_concurrency_run_ids():
                assert time.monotonic() < deadline and killed.poll() is None
                time.sleep(0.2)
            killed.send_signal(signal.SIGKILL)
            killed.wait()
            stuck = sorted(instance.event_log_storage.get_concurrency_run_ids())
            released = [dead.run_id for dead in release_dead_runs(instance)]
            stuck_status = [instance.get_run_by_id(run).status for run in stuck]
        runs = [subprocess.Popen([sys.executable, "-c", child], cwd=ROOT, env=env)
                for _ in range(2)]
        exit_codes = [run.wait(timeout=300) for run in runs]
        with dg.DagsterInstance.get() as instance:
            spans = []
            for record in instance.get_run_records():
                steps = {e.dagster_event.event_type_value: e.timestamp
                         for e in instance.all_logs(record.dagster_run.run_id)
                         if e.dagster_event and e.dagster_event.event_type_value in STEP_EVENTS}
                if "STEP_SUCCESS" in steps:
                    spans.append((steps["STEP_START"], steps["STEP_SUCCESS"]))
    return Contention(stuck, released, stuck_status, exit_codes, sorted(spans))


def test_two_runs_never_ingest_a_source_at_once(contention: Contention) -> None:
    """Two real processes run at once on an instance configured with the shipped dagster.yaml:
    the bronze steps of the same source run one after the other."""
    assert contention.exit_codes == [0, 0]
    (_, first_end), (second_start, _) = contention.spans
    assert first_end <= second_start


def test_a_killed_run_does_not_hold_its_pool_slot_for_ever(contention: Contention) -> None:
    """A run SIGKILLed inside its bronze step keeps its `ingest_events` slot; `lakehouse-ml
    run` releases the slots of runs whose process is gone, so the next runs are not blocked."""
    [stuck] = contention.stuck
    assert contention.released == [stuck]
    assert contention.stuck_status == [dg.DagsterRunStatus.FAILURE]
    assert contention.exit_codes == [0, 0]  # not blocked by the killed run's slot
