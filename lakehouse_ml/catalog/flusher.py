"""The background writer loop of the buffered table writers (the serving inference log, the
audit log): write every `flush_seconds`, or as soon as `flush_rows` rows wait, but not again
right after a failed write (the next try waits for the interval)."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from functools import partial


class BackgroundFlusher(ABC):
    """Mixin for a writer that buffers rows under `_wake` and sets `_closing` (under `_wake`,
    then notifies) to stop. Subclasses give `_buffered()` (rows waiting) and `_write_buffer()`
    (True when the rows were written; False keeps them for the next try)."""

    flush_rows: int
    flush_seconds: float
    _wake: threading.Condition
    _closing: bool

    @abstractmethod
    def _buffered(self) -> int: ...

    @abstractmethod
    def _write_buffer(self) -> bool: ...

    def _due(self, after_failure: bool) -> bool:
        """Time to write before the interval ends? Not right after a failed write."""
        return self._closing or (not after_failure and self._buffered() >= self.flush_rows)

    def _run(self) -> None:
        failed = False
        while True:
            with self._wake:
                self._wake.wait_for(partial(self._due, failed), timeout=self.flush_seconds)
                if self._closing:
                    return
            failed = not self._write_buffer()
