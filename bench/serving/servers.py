"""The two servers under test, each a subprocess stopped by its own PID.

- `lakehouse-ml serve`: this project's endpoint (keys only → online lookup, or full rows);
- `mlflow models serve --env-manager local --workers 1`: the baseline, full feature rows only.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from lakehouse_ml.config import Settings

BIN = Path(sys.executable).parent
STARTUP_SECONDS = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(settings: Settings) -> dict[str, str]:
    """The venv's bin first on PATH (`mlflow models serve` needs it) and the lakehouse."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "LAKEHOUSE_ROOT": settings.root, "LAKEHOUSE_LANDING": settings.landing,
            "LAKEHOUSE_ENV": settings.env, "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
            "MLFLOW_DISABLE_TELEMETRY": "true"}


@contextmanager
def _running(command: list[str], settings: Settings, health: str) -> Iterator[int]:
    """Runs the server until the block ends; yields its process id."""
    process = subprocess.Popen(command, env=environment(settings), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[:3]} exited: {process.stderr.read().decode()}")
            try:
                if httpx.get(health, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[:3]} did not answer {health}")
            time.sleep(0.3)
        yield process.pid
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # its own session: the server and workers
            process.wait(timeout=60)


@contextmanager
def lakehouse_process(settings: Settings, port: int) -> Iterator[tuple[str, int]]:
    """`lakehouse-ml serve` with its default limits: the invocations path and its pid."""
    command = [str(BIN / "lakehouse-ml"), "serve", "--port", str(port)]
    with _running(command, settings, f"http://127.0.0.1:{port}/health") as pid:
        yield "/serving-endpoints/churn_clf/invocations", pid


@contextmanager
def lakehouse_serve(settings: Settings, port: int) -> Iterator[str]:
    with lakehouse_process(settings, port) as (path, _):
        yield path


@contextmanager
def mlflow_serve(settings: Settings, model_uri: str, port: int) -> Iterator[str]:
    command = [str(BIN / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager",
               "local", "--workers", "1", "--port", str(port)]
    with _running(command, settings, f"http://127.0.0.1:{port}/ping"):
        yield "/invocations"
