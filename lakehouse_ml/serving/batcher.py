"""Dynamic batching: requests that arrive while a batch is being scored are scored together next.

A lone request is scored at once (nothing waits for a batch to fill); under load, the requests
queued during one batch form the next, so the fixed cost of a lookup and a predict is shared
and throughput grows with load instead of the queue. Scoring runs on one worker thread, off
the event loop, which keeps reading and parsing requests meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batcher(Generic[Item, Result]):
    def __init__(
        self, work: Callable[[Sequence[Item]], Sequence[Result | Exception]], executor: Executor,
        size: Callable[[Item], int], max_size: int,
    ) -> None:
        """`work` answers a batch item by item (an exception fails only its own item);
        a batch holds items up to `max_size` in total `size` (at least one item)."""
        self._work, self._executor = work, executor
        self._size, self._max_size = size, max_size
        self._queue: asyncio.Queue[tuple[Item, asyncio.Future[Result]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, future))
        return await future

    def _next_batch(self, first: tuple[Item, asyncio.Future[Result]]
                    ) -> list[tuple[Item, asyncio.Future[Result]]]:
        batch, total = [first], self._size(first[0])
        while not self._queue.empty() and total < self._max_size:
            batch.append(self._queue.get_nowait())
            total += self._size(batch[-1][0])
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = self._next_batch(await self._queue.get())
            items = [item for item, _ in batch]
            try:
                results = await loop.run_in_executor(self._executor, self._work, items)
            except Exception as error:  # `work` isolates item errors; this is its own failure
                results = [error] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # the client went away
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
