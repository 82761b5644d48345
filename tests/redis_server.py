"""A throwaway redis-server for the tests (`tests/conftest.py`'s `redis_url` fixture)."""

from __future__ import annotations

import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PR_SET_PDEATHSIG = 1
"""prctl option (linux/prctl.h): the signal a process gets when its parent dies."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dies_with_parent() -> None:
    """In the child before exec: on Linux, SIGTERM when the process that started it dies
    (prctl PR_SET_PDEATHSIG); elsewhere nothing."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on a free loopback port, stopped by its PID at the end of the
    session, and by the kernel if this process dies first (a test process killed with SIGKILL,
    e.g. a mutation run's timeout, left servers running for hours). Its absence is a failure
    (`make test` installs it)."""
    binary = shutil.which("redis-server")
    try:
        import redis
    except ImportError:
        redis = None
    if binary is None or redis is None:
        missing = "redis-server binary" if binary is None else "redis Python package"
        message = f"{missing} not found (apt-get install redis-server; pip install redis)"
        pytest.fail(message)
    port = _free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_dies_with_parent,
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
