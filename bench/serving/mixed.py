"""Large and small requests together, and what one request can cost the worker in memory.

- `mixed`: 1-row requests at a fixed rate (open loop, as `load.fixed_rate`) while another
  client sends 10,000-row requests back to back on its own connection;
- `peak_memory`: the worker's resident memory, sampled every 2 ms, while it answers one
  request (a maximum-size one, or one far beyond the body limit).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.serving.load import Connection, Run, Target, fixed_rate, request_bytes

MIB = 2**20


@dataclass(frozen=True)
class Mixed:
    small: Run
    large: Run


async def mixed(target: Target, small: list[bytes], large: bytes, rate: float,
                seconds: float) -> Mixed:
    stop = asyncio.Event()
    latencies: list[float] = []
    failed = 0

    async def large_client() -> None:
        nonlocal failed
        connection = await Connection.open(target)
        request = request_bytes(target, large)
        while not stop.is_set():
            began = time.perf_counter()
            failed += await connection.exchange(request) != 200
            latencies.append((time.perf_counter() - began) * 1000)
        connection.close()

    started = time.perf_counter()
    sender = asyncio.create_task(large_client())
    await asyncio.sleep(0.5)  # the first large request is being scored
    small_run = await fixed_rate(target, small, rate, seconds)
    stop.set()
    await sender
    large_run = Run(len(latencies), failed, time.perf_counter() - started, np.array(latencies))
    return Mixed(small_run, large_run)


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"process {pid} has no VmRSS")


@contextmanager
def peak_memory(pid: int) -> Iterator[dict[str, int]]:
    """Yields {"before", "peak"} (bytes), "peak" filled in when the block ends."""
    figures = {"before": rss(pid), "peak": 0}
    figures["peak"] = figures["before"]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            figures["peak"] = max(figures["peak"], rss(pid))
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        yield figures
    finally:
        done.set()
        sampler.join()


async def one_request(target: Target, body: bytes) -> int:
    """Send one body (declared with its length); the status, or 0 if the server closed the
    connection before answering."""
    connection = await Connection.open(target)
    try:
        return await connection.exchange(request_bytes(target, body))
    except (ConnectionError, asyncio.IncompleteReadError):
        return 0
    finally:
        connection.close()
