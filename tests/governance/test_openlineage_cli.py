"""OpenLineage without a daemon: `lakehouse-ml run` (what `make run` runs, jobs executed in
process, where no run status sensor ever ticks) emits START and COMPLETE (or FAIL) for every
job run it executes, into the file under the lakehouse root; and openlineage-python's own
configuration (`openlineage.yml`, `$OPENLINEAGE_CONFIG`) chooses the transport."""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path

import pytest
from openlineage.client.serde import Serde

from lakehouse_ml.governance.openlineage import events_file, lineage_client
from tests.conftest import SmallRun
from tests.governance.test_openlineage import (  # noqa: F401 (marquez: a fixture)
    assert_valid,
    lifecycle,
    marquez,
    rebuilt,
)


@pytest.fixture(autouse=True)
def no_openlineage_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No OpenLineage configuration from the environment, the working directory or home."""
    for name in [n for n in os.environ if n.startswith("OPENLINEAGE")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def test_run_emits_start_and_an_end_event_for_every_job_run(small_run: SmallRun) -> None:
    """The session's `small_run` (tests/conftest.py: 20 customers over the fewest trainable
    days, no OpenLineage configuration): the daily refresh completes, batch scoring fails (no
    champion), the audit completes."""
    result, settings = small_run.result, small_run.settings

    # the CLI's console took its width when it was imported (80 columns inside the suite): a
    # summary line may wrap, so whitespace is made single spaces
    summary = " ".join(result.stdout.split())
    runs = dict(re.findall(r"\brun (\S+) \((\S+)\) (?:succeeded|failed)\b", summary))
    ended = {run_id: "COMPLETE" if f"run {run_id} ({job}) succeeded" in summary
             else "FAIL" for run_id, job in runs.items()}
    assert {"churn_daily_refresh", "governance_audit"} <= set(runs.values()), result.output
    lines = Path(events_file(settings.root, settings.env)).read_text().splitlines()
    events = [json.loads(line) for line in lines]
    by_run: dict[str, list[str]] = {}
    for event in events:
        assert Serde.to_dict(rebuilt(event)) == event  # the library's own classes
        assert event["job"]["name"] == runs[event["run"]["runId"]]
        by_run.setdefault(event["run"]["runId"], []).append(event["eventType"])
    assert by_run == {run_id: ["START", end] for run_id, end in ended.items()}
    assert {"COMPLETE", "FAIL"} <= set(ended.values())
    refresh = next(e for e in events if e["job"]["name"] == "churn_daily_refresh"
                   and e["eventType"] == "COMPLETE")
    outputs = {d["name"]: d["facets"] for d in refresh["outputs"]}
    assert "dev.gold.daily_activity" in outputs and "dev.silver.events" in {
        d["name"] for d in refresh["inputs"]}
    assert "columnLineage" in outputs["dev.gold.daily_activity"]


def emit_lifecycle(root: str) -> str:
    run_id = str(uuid.uuid4())
    client = lineage_client(root, "dev")
    for event in lifecycle(root, run_id):
        client.emit(event)
    return run_id


def test_an_openlineage_yml_in_the_working_directory_chooses_the_transport(
        tmp_path: Path) -> None:
    chosen = tmp_path / "chosen.jsonl"
    Path("openlineage.yml").write_text(
        f"transport:\n  type: file\n  log_file_path: {chosen}\n  append: true\n")
    root = str(tmp_path / "lake")
    run_id = emit_lifecycle(root)
    assert_valid([json.loads(line) for line in chosen.read_text().splitlines()], run_id, root)
    assert not Path(events_file(root, "dev")).exists()


def test_openlineage_config_names_the_configuration_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        marquez: tuple[str, list[tuple[str, dict]]]) -> None:  # noqa: F811
    url, received = marquez
    config = tmp_path / "elsewhere" / "lineage.yml"
    config.parent.mkdir()
    config.write_text(f"transport:\n  type: http\n  url: {url}\n")
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))
    root = str(tmp_path / "lake")
    run_id = emit_lifecycle(root)
    assert {path for path, _ in received} == {"/api/v1/lineage"}
    assert_valid([body for _, body in received], run_id, root)
    assert not Path(events_file(root, "dev")).exists()


def test_without_any_configuration_events_go_to_the_file_under_the_root(
        tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    run_id = emit_lifecycle(root)
    lines = Path(events_file(root, "dev")).read_text().splitlines()
    assert_valid([json.loads(line) for line in lines], run_id, root)
