"""Fixtures: a feature store on a fresh lakehouse root, and a real Redis server when available."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.features import FeatureEngineeringClient


@pytest.fixture
def catalog(tmp_path) -> Catalog:
    return Catalog(str(tmp_path / "lakehouse"), "dev")


@pytest.fixture
def fe(catalog, monkeypatch) -> Iterator[FeatureEngineeringClient]:
    monkeypatch.delenv("REDIS_URL", raising=False)
    client = FeatureEngineeringClient(catalog)
    yield client
    client.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A throwaway redis-server; skipped if absent, a failure if REDIS_REQUIRED=1."""
    required = os.environ.get("REDIS_REQUIRED") == "1"
    binary = shutil.which("redis-server")
    try:
        import redis
    except ImportError:
        redis = None
    if binary is None or redis is None:
        missing = "redis-server binary" if binary is None else "redis Python package"
        message = f"{missing} not found (apt-get install redis-server; pip install redis)"
        if required:
            pytest.fail(f"REDIS_REQUIRED=1 but {message}")
        pytest.skip(message)
    port = _free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(f"redis-server did not start on port {port}")
                time.sleep(0.05)
        yield url
    finally:
        client.close()
        server.terminate()
        server.wait(timeout=10)
