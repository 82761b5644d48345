"""The suite's redis-server does not outlive the test process that started it, even one killed
with SIGKILL (whose fixtures never tear down): the kernel stops it (tests/redis_server.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STARTER = """
import subprocess, sys, time
from tests.redis_server import _dies_with_parent, _free_port
server = subprocess.Popen([sys.argv[1], "--port", str(_free_port()), "--bind", "127.0.0.1",
                           "--save", "", "--appendonly", "no"],
                          stdout=subprocess.DEVNULL, preexec_fn=_dies_with_parent)
print(server.pid, flush=True)
time.sleep(120)
"""


def _running(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie left for its new parent to reap."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] != "Z"


def test_a_redis_server_stops_when_the_test_process_is_killed() -> None:
    binary = shutil.which("redis-server")
    assert binary is not None, "redis-server not found (make test installs it)"
    starter = subprocess.Popen([sys.executable, "-c", STARTER, binary], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    server = None
    try:
        server = int(starter.stdout.readline())
        time.sleep(0.5)
        assert _running(server), "redis-server did not start"
        os.kill(starter.pid, signal.SIGKILL)
        starter.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _running(server) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(server), f"redis-server {server} outlived its killed parent"
    finally:
        if server is not None and _running(server):
            os.kill(server, signal.SIGKILL)  # the test failed: stop it by its PID all the same
        starter.kill()
        starter.wait(timeout=10)
        starter.stdout.close()
