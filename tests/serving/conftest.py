"""Fixtures: one lakehouse with a champion and a challenger for the whole folder, a token,
and real uvicorn servers on free loopback ports (in this process, or `lakehouse-ml serve` as
a process of its own), each stopped (and waited for) at the end."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.serving.config import ServingConfig
from lakehouse_ml.serving.server import uvicorn_server
from lakehouse_ml.serving.tokens import TokenStore
from tests.conftest import built_once
from tests.serving.lakehouse import build_lakehouse

ENDPOINT = "churn_clf"
INVOCATIONS = f"/serving-endpoints/{ENDPOINT}/invocations"
STARTUP_SECONDS = 180
"""A server process imports, loads and verifies its models first: minutes on a busy machine."""
SERVE = str(Path(sys.executable).parent / "lakehouse-ml")


def serving_copy(tmp_path_factory: pytest.TempPathFactory, churn_history: Settings,
                 name: str) -> Settings:
    """The serving lakehouse (`build_lakehouse` on `churn_history`: champion 1, challenger 2),
    built once per `make test` (~1 min; `built_once`, shared by the xdist workers), copied into
    a new temporary folder `name`: its tables and MLflow database (the artifacts stay shared;
    new runs write folders of their own)."""
    built = built_once(tmp_path_factory, "serving",
                       lambda folder: build_lakehouse(folder, churn_history))
    own = tmp_path_factory.mktemp(name)
    shutil.copytree(built / "lakehouse", own / "lakehouse")
    (own / "mlflow").mkdir()
    shutil.copy(built / "mlflow" / "mlflow.db", own / "mlflow" / "mlflow.db")
    return Settings(str(own / "lakehouse"), churn_history.landing, "dev",
                    f"sqlite:///{own / 'mlflow' / 'mlflow.db'}")


@pytest.fixture(scope="session")
def lakehouse(tmp_path_factory: pytest.TempPathFactory, churn_history: Settings) -> Settings:
    """The serving lakehouse, one copy per test process (`serving_copy`). Session-scoped,
    because a package-scoped fixture is torn down whenever an xdist worker runs a file outside
    the folder in between, and was rebuilt for most files. Tests that move aliases work on a
    registry copy."""
    return serving_copy(tmp_path_factory, churn_history, "serving")


@pytest.fixture(scope="session")
def lakehouse_catalog(lakehouse: Settings) -> Catalog:
    return Catalog(lakehouse.root, lakehouse.env)


@pytest.fixture(scope="session")
def token(lakehouse_catalog: Catalog) -> str:
    return TokenStore(lakehouse_catalog).create("tests")


@pytest.fixture(scope="session")
def customers(lakehouse_catalog: Catalog) -> list[int]:
    frame = lakehouse_catalog.read("silver.customers", columns=["customer_id"])
    return frame["customer_id"].sort().to_list()


def config(settings: Settings, **knobs: object) -> ServingConfig:
    """Fast polling and flushing, so tests see alias moves, revocations and log rows quickly."""
    defaults = {"challenger_share": 0.3, "poll_seconds": 0.2, "log_flush_seconds": 0.2}
    return ServingConfig(settings, {ENDPOINT: MODEL}, **{**defaults, **knobs})


@contextmanager
def running(serving: ServingConfig) -> Iterator[httpx.Client]:
    """A uvicorn server in a thread on a free port; a client for it; a clean stop."""
    server = uvicorn_server(serving, "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        assert not thread.is_alive(), "server did not stop"


@pytest.fixture(scope="module")
def server(lakehouse: Settings, token: str) -> Iterator[httpx.Client]:
    """A server for the module's tests (started once `token` exists; per module, so no idle
    server keeps polling while other files run): champion 1, challenger 2 on 30% of keys.
    Tests must not move its aliases (see `registry_copy`)."""
    with running(config(lakehouse)) as client:
        yield client


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def registry_copy(lakehouse: Settings, tmp_path: Path) -> Settings:
    """The lakehouse with a private copy of the MLflow database (same artifacts)."""
    source = Path(lakehouse.mlflow_tracking_uri.removeprefix("sqlite:///"))
    copy = tmp_path / "mlflow.db"
    shutil.copy(source, copy)
    return dataclasses.replace(lakehouse, mlflow_tracking_uri=f"sqlite:///{copy}")


def tables_copy(lakehouse: Settings, folder: Path) -> Settings:
    """`lakehouse` with a copy of its tables, metastore and online store under `folder` (same
    registry)."""
    root = folder / "lakehouse"
    shutil.copytree(lakehouse.root, root)
    return dataclasses.replace(lakehouse, root=str(root))


@pytest.fixture
def lakehouse_copy(lakehouse: Settings, tmp_path: Path) -> Settings:
    """The lakehouse with a private copy of its tables and online store (same registry), for
    tests that break a table or start `lakehouse-ml serve`: launched by the metastore admin,
    it applies the policies and its serving grants (`serving.identity`), which must not change
    the shared lakehouse under other tests."""
    return tables_copy(lakehouse, tmp_path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "LAKEHOUSE_ROOT": settings.root, "LAKEHOUSE_ENV": settings.env,
            "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri}


def wait_healthy(url: str, process: subprocess.Popen, log_file: Path | None = None) -> None:
    """Until `GET /health` answers 200; a server that exits first fails with its stderr (a
    pipe, or `log_file` where it was sent to one)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            error = log_file.read_text() if log_file else process.stderr.read().decode()
            raise AssertionError(f"lakehouse-ml serve exited {process.returncode}: {error}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "lakehouse-ml serve did not start"
        time.sleep(0.2)


@contextmanager
def serve_process(settings: Settings, *flags: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """`lakehouse-ml serve <flags>` on a free port: its URL and process, SIGTERM at the end
    (its stderr goes to a file, so a chatty server never blocks on a full pipe). Launched by
    the metastore admin, it applies policies and grants to `settings`: a private copy
    (`lakehouse_copy`, `tables_copy`), not the shared `lakehouse`."""
    port = free_port()
    log_file = Path(settings.root).parent / f"serve-{port}.log"
    with open(log_file, "w+b") as stderr:
        process = subprocess.Popen([SERVE, "serve", "--port", str(port), *flags],
                                   env=serve_env(settings), stdout=subprocess.DEVNULL,
                                   stderr=stderr)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, process, log_file)
            yield url, process
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def logged(catalog: Catalog, request_ids: list[str], timeout: float = 10) -> pl.DataFrame:
    """The inference-log rows of these requests, once all are flushed."""
    deadline = time.monotonic() + timeout
    while True:
        rows = catalog.read("churn.inference_log").filter(pl.col("request_id").is_in(request_ids))
        if rows.height == len(request_ids) or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)
