"""Dynamic batching: requests that arrive while a batch is being scored are scored together next.

A lone request is scored at once (nothing waits for a batch to fill); under load, the requests
queued during one batch form the next, so the fixed cost of a lookup and a predict is shared
and throughput grows with load instead of the queue. Scoring runs on one worker thread, off
the event loop, which keeps reading and parsing requests meanwhile.

A request comes as one part or, when large, as several (chunks). Whole requests and chunks
are batched apart, taking turns while both wait: a batch of the whole requests waiting, then a
batch of one chunk of each large request, and so on. A small request that arrives while a
large one is scored waits for one chunk at most, never for all of it, and large requests still
advance under a steady stream of small ones.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Job(Generic[Item, Result]):
    parts: Sequence[Item]
    future: asyncio.Future[list[Result]]
    results: dict[int, Result] = field(default_factory=dict)
    taken: int = 0
    """Parts handed to batches so far."""


class Batcher(Generic[Item, Result]):
    def __init__(
        self, work: Callable[[Sequence[Item]], Sequence[Result | Exception]], executor: Executor,
        size: Callable[[Item], int], max_size: int,
    ) -> None:
        """`work` answers a batch item by item (an exception fails only its own request);
        a batch holds items up to `max_size` in total `size` (at least one item)."""
        self._work, self._executor = work, executor
        self._size, self._max_size = size, max_size
        self._whole: deque[_Job[Item, Result]] = deque()
        self._chunked: deque[_Job[Item, Result]] = deque()
        self._chunks_turn = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def submit(self, parts: Sequence[Item]) -> list[Result]:
        """The results of `parts` (one request, at least one part), in order."""
        job: _Job[Item, Result] = _Job(parts, asyncio.get_running_loop().create_future())
        (self._whole if len(parts) == 1 else self._chunked).append(job)
        self._wake.set()
        return await job.future

    def _next_batch(self) -> list[tuple[_Job[Item, Result], int]]:
        """Whole requests, or one chunk of each large request (in turn while both wait); at
        least one part, at most `max_size` in total unless one part is larger."""
        chunks = bool(self._chunked) and (self._chunks_turn or not self._whole)
        self._chunks_turn = not chunks
        jobs = self._chunked if chunks else self._whole
        batch: list[tuple[_Job[Item, Result], int]] = []
        total, unfinished = 0, deque()
        while jobs and (not batch or total < self._max_size):
            job = jobs.popleft()
            if job.future.done():  # the client went away, or an earlier part failed
                continue
            batch.append((job, job.taken))
            total += self._size(job.parts[job.taken])
            job.taken += 1
            if job.taken < len(job.parts):
                unfinished.append(job)
        jobs.extend(unfinished)  # behind the requests this batch did not reach
        return batch

    @staticmethod
    def _deliver(job: _Job[Item, Result], part: int, result: Result | Exception) -> None:
        if job.future.done():
            return
        if isinstance(result, Exception):
            job.future.set_exception(result)
            return
        job.results[part] = result
        if len(job.results) == len(job.parts):
            job.future.set_result([job.results[i] for i in range(len(job.parts))])

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._whole and not self._chunked:
                self._wake.clear()
                await self._wake.wait()
            batch = self._next_batch()
            if not batch:
                continue
            items = [job.parts[part] for job, part in batch]
            try:
                results = await loop.run_in_executor(self._executor, self._work, items)
            except Exception as error:  # `work` isolates item errors; this is its own failure
                results = [error] * len(batch)
            for (job, part), result in zip(batch, results, strict=True):
                self._deliver(job, part, result)
