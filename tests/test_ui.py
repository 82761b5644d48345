"""The UI path: the webserver loads workspace.yaml and serves every asset, check, job, schedule."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse_ml.domains.churn import DOMAIN

ROOT = Path(__file__).resolve().parent.parent
QUERY = """
{
  assetNodes { assetKey { path } assetChecksOrError { ... on AssetChecks { checks { name } } } }
  repositoriesOrError {
    ... on RepositoryConnection { nodes { jobs { name } schedules { name cronSchedule } } }
  }
}
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str, body: bytes | None = None) -> bytes:
    headers = {"Content-Type": "application/json"} if body else {}
    request = urllib.request.Request(url, data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()


@pytest.fixture
def webserver(tmp_path: Path) -> Iterator[str]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "LAKEHOUSE_ROOT": str(tmp_path / "lh")}
    server = subprocess.Popen(
        [Path(sys.executable).parent / "dagster-webserver", "-w", "workspace.yaml",
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                _get(f"{url}/server_info")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("dagster-webserver did not start") from None
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


def test_webserver_shows_assets_checks_jobs_and_schedules(webserver: str) -> None:
    answer = json.loads(_get(f"{webserver}/graphql", json.dumps({"query": QUERY}).encode()))
    data = answer["data"]

    assets = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
    expected = {f"{layer}/{s.name}" for s in DOMAIN.sources for layer in ("bronze", "silver")}
    expected |= {f"gold/{a.name}" for a in DOMAIN.aggregates}
    expected |= {f"gold/{t.name}" for t in DOMAIN.feature_tables}
    expected |= {"churn/training_set", "churn/churn_clf", "churn/predictions"}
    assert expected <= assets.keys()
    checks = {name: {c["name"] for c in node["assetChecksOrError"]["checks"]}
              for name, node in assets.items()}
    assert checks["silver/orders"] == {"contract", "conservation", "unique_keys"}
    assert checks["gold/daily_activity"] == {"expectations"}
    assert checks["bronze/events"] == {"parse_rejects", "landing_layout"}
    assert checks["churn/training_set"] == {"no_label_leakage"}
    repository = data["repositoriesOrError"]["nodes"][0]
    assert {"churn_daily_refresh", "churn_weekly_maintenance", "catalog_maintenance",
            "churn_clf_train_validate_deploy", "churn_clf_batch_score"} <= {
        j["name"] for j in repository["jobs"]}
    schedules = {s["name"]: s["cronSchedule"] for s in repository["schedules"]}
    assert schedules["churn_daily_refresh_schedule"] == "0 2 * * *"
    assert schedules["churn_weekly_maintenance_schedule"] == "0 3 * * 0"
    assert schedules["catalog_maintenance_schedule"] == "0 5 * * 0"


def test_dagster_definitions_validate_passes() -> None:
    validate = subprocess.run(
        [Path(sys.executable).parent / "dagster", "definitions", "validate",
         "-w", "workspace.yaml"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert validate.returncode == 0, validate.stderr[-2000:]
    assert "All code locations passed validation" in validate.stderr + validate.stdout
