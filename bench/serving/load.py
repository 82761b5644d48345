"""A small HTTP/1.1 load generator on asyncio streams (keep-alive, no client library).

httpx costs about a millisecond of Python per request, as much as the server under test, on the
same two cores; raw streams cost a fraction of that. Two modes:
- `fixed_rate`: open loop, request i is due at start + i / rate; its latency is measured from
  when it was due (so a stalled server is charged for the requests it delayed, no coordinated
  omission);
- `saturate`: closed loop, `concurrency` connections each sending as soon as the last answer
  came back; throughput is answers per second.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    path: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Run:
    sent: int
    failed: int
    seconds: float
    latencies_ms: np.ndarray

    @property
    def throughput(self) -> float:
        return (self.sent - self.failed) / self.seconds

    def percentile(self, q: float) -> float:
        if not self.latencies_ms.size:
            return float("nan")
        return float(np.percentile(self.latencies_ms, q))


def request_bytes(target: Target, body: bytes) -> bytes:
    head = [f"POST {target.path} HTTP/1.1", f"Host: {target.host}:{target.port}",
            "Content-Type: application/json", f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in target.headers.items())]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, target: Target) -> Connection:
        return cls(*await asyncio.open_connection(target.host, target.port))

    async def exchange(self, request: bytes) -> int:
        """Send one request, read the whole response; returns the status code."""
        self.writer.write(request)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])

    def close(self) -> None:
        self.writer.close()


async def _pool(target: Target, size: int) -> asyncio.Queue[Connection]:
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for connection in await asyncio.gather(*(Connection.open(target) for _ in range(size))):
        pool.put_nowait(connection)
    return pool


async def fixed_rate(target: Target, bodies: Sequence[bytes], rate: float, seconds: float,
                     connections: int = 64) -> Run:
    pool = await _pool(target, connections)
    requests = [request_bytes(target, b) for b in bodies]
    latencies: list[float] = []
    failed = 0

    async def one(request: bytes, due: float) -> None:
        nonlocal failed
        connection = await pool.get()
        try:
            failed += await connection.exchange(request) != 200
        finally:
            pool.put_nowait(connection)
        latencies.append((time.perf_counter() - due) * 1000)

    total = int(rate * seconds)
    start = time.perf_counter()
    tasks = []
    for i, request in zip(range(total), itertools.cycle(requests)):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(request, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not pool.empty():
        pool.get_nowait().close()
    return Run(total, failed, elapsed, np.array(latencies))


async def saturate(target: Target, bodies: Sequence[bytes], seconds: float,
                   concurrency: int = 32) -> Run:
    requests = itertools.cycle([request_bytes(target, b) for b in bodies])
    latencies: list[float] = []
    failed = sent = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal failed, sent
        connection = await Connection.open(target)
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            failed += await connection.exchange(next(requests)) != 200
            sent += 1
            latencies.append((time.perf_counter() - began) * 1000)
        connection.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return Run(sent, failed, time.perf_counter() - start, np.array(latencies))
