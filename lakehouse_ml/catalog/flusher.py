"""The background writer loop of the buffered table writers (the serving inference log, the
audit log): write every `flush_seconds`, or as soon as `flush_rows` rows wait, but not again
right after a failed write: the next try waits for the interval, doubled after each further
failure up to `MAX_BACKOFF_SECONDS` (a lakehouse that stays unwritable, e.g. a removed root, is
retried once a minute, not every interval forever)."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from functools import partial

MAX_BACKOFF_SECONDS = 60.0


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

    def _wait_seconds(self, failures: int) -> float:
        """The interval, doubled per consecutive failed write, at most `MAX_BACKOFF_SECONDS`
        (never less than the interval)."""
        return max(self.flush_seconds,
                   min(self.flush_seconds * 2.0 ** failures, MAX_BACKOFF_SECONDS))

    def _run(self) -> None:
        failures = 0
        while True:
            with self._wake:
                self._wake.wait_for(partial(self._due, failures > 0),
                                    timeout=self._wait_seconds(failures))
                if self._closing:
                    return
            failures = 0 if self._write_buffer() else failures + 1
