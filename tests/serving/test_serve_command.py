"""`lakehouse-ml serve` as users run it: N requests, then SIGTERM, leave N log rows; without a
champion it refuses to start."""

from __future__ import annotations

import signal
import subprocess

import httpx
import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.serving.tokens import TokenStore
from tests.serving.conftest import (
    INVOCATIONS,
    SERVE,
    auth,
    free_port,
    serve_env,
    serve_process,
    wait_healthy,
)

REQUESTS = 30


def _command(port: int) -> list[str]:
    """Flush thresholds far away: only the shutdown flush can write the rows."""
    return [SERVE, "serve", "--port", str(port),
            "--log-flush-rows", "100000", "--log-flush-seconds", "3600"]


def test_n_requests_then_shutdown_leave_n_log_rows(
    lakehouse_copy: Settings, customers: list[int]
) -> None:
    # a private copy: the server, launched by the admin, applies churn-serving's grants
    lakehouse_catalog = Catalog(lakehouse_copy.root, lakehouse_copy.env)
    token = TokenStore(lakehouse_catalog).create("log-test")
    port = free_port()
    process = subprocess.Popen(_command(port), env=serve_env(lakehouse_copy),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process)
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


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory) -> pytest.ExceptionInfo[Exception]:
    """`lakehouse-ml serve` on an empty lakehouse (no model, so no champion) through the shared
    `serve_process`, once for the two tests below (a start costs ~9 CPU-s: imports and a new
    MLflow store): what it raised, which holds the exit status and the server's stderr."""
    empty = tmp_path_factory.mktemp("no-champion")
    settings = Settings(str(empty / "lakehouse"), str(empty / "landing"), "dev",
                        f"sqlite:///{empty / 'mlflow.db'}")
    with pytest.raises(Exception) as raised, serve_process(settings):
        pass
    return raised


def test_serve_without_a_champion_exits_with_the_reason(
        refused: pytest.ExceptionInfo[Exception]) -> None:
    status, _, stderr = str(refused.value).partition(": ")
    assert status == "lakehouse-ml serve exited 1", refused.value
    assert "dev.churn.churn_clf has no champion alias" in stderr


def test_a_server_that_exits_at_startup_fails_the_test_with_its_error(
        refused: pytest.ExceptionInfo[Exception]) -> None:
    """The shared `serve_process` (stderr to a file) reports why the server exited."""
    refused.match("(?s)exited 1: .*has no champion alias")
    assert refused.type is AssertionError
