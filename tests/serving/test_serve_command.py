"""`lakehouse-ml serve` as users run it: N requests, then SIGTERM, leave N log rows; without a
champion it refuses to start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.serving.tokens import TokenStore
from tests.serving.conftest import INVOCATIONS, STARTUP_SECONDS, auth

REQUESTS = 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _command(port: int) -> list[str]:
    """Flush thresholds far away: only the shutdown flush can write the rows."""
    return [str(Path(sys.executable).parent / "lakehouse-ml"), "serve", "--port", str(port),
            "--log-flush-rows", "100000", "--log-flush-seconds", "3600"]


def _env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "LAKEHOUSE_ROOT": settings.root, "LAKEHOUSE_ENV": settings.env,
            "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri}


def _wait_healthy(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        assert process.poll() is None, process.stderr.read().decode()
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "lakehouse-ml serve did not start"
        time.sleep(0.2)


def test_n_requests_then_shutdown_leave_n_log_rows(
    lakehouse: Settings, lakehouse_catalog: Catalog, customers: list[int]
) -> None:
    token = TokenStore(lakehouse_catalog).create("log-test")
    port = _free_port()
    process = subprocess.Popen(_command(port), env=_env(lakehouse), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, process)
        statuses = []
        with httpx.Client(base_url=url, headers=auth(token), timeout=30) as client:
            for i in range(REQUESTS):
                body = ({"instances": [{"customer_id": customers[i]}]} if i % 5
                        else {"instances": [{"customer_id": "bad"}]})
                statuses.append(client.post(INVOCATIONS, json=body).status_code)
        assert statuses.count(400) == REQUESTS // 5 and statuses.count(200) == REQUESTS * 4 // 5
        before = lakehouse_catalog.read("churn.inference_log").filter(caller="log-test").height
        assert before == 0, "nothing is flushed before shutdown with these thresholds"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    # uvicorn re-raises the signal after its graceful shutdown, so the exit status names it
    assert process.returncode == -signal.SIGTERM, process.stderr.read().decode()

    rows = lakehouse_catalog.read("churn.inference_log").filter(caller="log-test")
    assert rows.height == REQUESTS
    assert rows["status_code"].value_counts().sort("status_code").rows() == [
        (200, REQUESTS * 4 // 5), (400, REQUESTS // 5)]
    ok = rows.filter(pl.col("status_code") == 200)
    assert (ok["rows"] == 1).all() and ok["model_versions"].list.len().eq(1).all()
    assert ok["response"].str.contains('"predictions"').all()
    assert rows.filter(pl.col("status_code") == 400)["response"].str.contains(
        "takes integer values").all()


def test_serve_without_a_champion_exits_with_the_reason(tmp_path: Path) -> None:
    empty = Settings(str(tmp_path / "lakehouse"), str(tmp_path / "landing"), "dev",
                     f"sqlite:///{tmp_path / 'mlflow.db'}")
    done = subprocess.run(_command(_free_port()), env=_env(empty), capture_output=True,
                          text=True, timeout=STARTUP_SECONDS)
    assert done.returncode == 1
    assert "dev.churn.churn_clf has no champion alias" in done.stderr
