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

import dagster as dg
import pytest

from lakehouse_ml.cli.pipeline import release_dead_runs
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
    """The events asset lists the strays of events/ (and Events/); the domain's first source
    also lists what lies beside the source folders."""
    land(settings, f"events/{DAY}/ok.json", jl(ev(1)))
    strays = {"events": ["events/2026-3-1/a.json", "events/latest/b.json",
                         "events/2020-01-01/f.json", f"Events/{DAY}/c.json",
                         f"events/{DAY}/retry/d.json"],
              DOMAIN.sources[0].name: ["exports/e.json", "notes.txt"]}
    for path in [p for paths in strays.values() for p in paths]:
        land(settings, path, jl(ev(2)))
    land(settings, "_generator.json", b"{}")  # markers beside the data are not strays
    result = materialize_bronze(settings, sources=tuple(strays))
    checks = {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()
              if e.check_name == "landing_layout"}
    for source, paths in strays.items():
        check = checks[source]
        assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
        assert check.metadata["not_ingested"].value == len(paths)
        assert all(path in check.metadata["paths"].value for path in paths)
    listed = checks["events"].metadata["paths"].value
    assert all(reason in listed for reason in ("case-sensitive", "sub-folder", "YYYY-MM-DD",
                                               "before the first partition"))


def test_runs_date_range_ignores_folders_that_are_not_days(settings: Settings) -> None:
    for folder in ("0-old", "zz-old", "2026-3-1", "2026-02-30", "2026-03-02", "2026-03-05"):
        land(settings, f"events/{folder}/a.json", jl(ev(1)))
    assert landed_days(settings.landing, DOMAIN) == ["2026-03-02", "2026-03-05"]


def materialize_events_in_this_process() -> None:
    """Child process body: one run of bronze/events on the instance at $DAGSTER_HOME."""
    result = materialize_bronze(Settings.from_env(), dg.DagsterInstance.get())
    assert result.success


@pytest.fixture
def shipped_home(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                 ) -> dict[str, str]:
    """40 landed event files and a Dagster home holding the shipped dagster.yaml (also set as
    DAGSTER_HOME here); the environment for child processes."""
    for part in range(40):
        land(settings, f"events/{DAY}/part-{part:02d}.json",
             jl(*[ev(10_000 * part + i, tags=[i]) for i in range(500)]))
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return {**os.environ, "DAGSTER_HOME": str(home)}


def test_two_runs_never_ingest_a_source_at_once(shipped_home: dict[str, str]) -> None:
    """Two real processes run at once on an instance configured with the shipped dagster.yaml:
    the bronze steps of the same source run one after the other."""
    with dg.DagsterInstance.get():  # storage created once, not raced by the two runs
        pass
    env = shipped_home
    child = "from tests.test_ingest_dagster import materialize_events_in_this_process as run; run()"
    runs = [subprocess.Popen([sys.executable, "-c", child], cwd=ROOT, env=env) for _ in range(2)]
    assert [run.wait(timeout=300) for run in runs] == [0, 0]
    with dg.DagsterInstance.get() as instance:
        spans = []
        for record in instance.get_run_records():
            steps = {e.dagster_event.event_type_value: e.timestamp
                     for e in instance.all_logs(record.dagster_run.run_id)
                     if e.dagster_event and e.dagster_event.event_type_value in STEP_EVENTS}
            spans.append((steps["STEP_START"], steps["STEP_SUCCESS"]))
    (_, first_end), (second_start, _) = sorted(spans)
    assert len(spans) == 2 and first_end <= second_start


def test_a_killed_run_does_not_hold_its_pool_slot_for_ever(
    shipped_home: dict[str, str],
) -> None:
    """A run SIGKILLed inside its bronze step keeps its `ingest_events` slot; `lakehouse-ml
    run` releases the slots of runs whose process is gone, so the next run is not blocked."""
    child = "from tests.test_ingest_dagster import materialize_events_in_this_process as run; run()"
    env = shipped_home
    with dg.DagsterInstance.get() as instance:
        killed = subprocess.Popen([sys.executable, "-c", child], cwd=ROOT, env=env)
        deadline = time.monotonic() + 240
        while not instance.event_log_storage.get_concurrency_run_ids():
            assert time.monotonic() < deadline and killed.poll() is None
            time.sleep(0.2)
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        [stuck] = instance.event_log_storage.get_concurrency_run_ids()
        assert release_dead_runs(instance) == [stuck]
        assert instance.get_run_by_id(stuck).status == dg.DagsterRunStatus.FAILURE
    again = subprocess.run([sys.executable, "-c", child], cwd=ROOT, env=env, timeout=300,
                           capture_output=True)
    assert again.returncode == 0
