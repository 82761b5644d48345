"""The background writer loop of the buffered table writers (the serving inference log, the
audit log, the lineage log), and the one-writer-per-lakehouse registry of a process. A writer
writes every `flush_seconds`, or as soon as `flush_rows` rows wait, but not again right after
a failed write: the next try waits for the interval, doubled after each further failure up to
`MAX_BACKOFF_SECONDS` (a lakehouse that stays unwritable, e.g. a removed root, is retried once
a minute, not every interval forever)."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import partial
from typing import Generic, TypeVar

MAX_BACKOFF_SECONDS = 60.0
log = logging.getLogger(__name__)


class BackgroundFlusher(ABC):
    """Mixin for a writer that buffers rows under `_wake` and sets `_closing` (under `_wake`,
    then notifies) to stop. Subclasses give `_buffered()` (rows waiting) and `_write_buffer()`
    (True when the rows were written; False keeps them for the next try)."""

    flush_rows: int
    flush_seconds: float
    _wake: threading.Condition
    _closing: bool
    _thread: threading.Thread
    _label: str = "writer"

    def _start(self) -> None:
        """Start the writer thread; at exit, what is left is written (from threading's exit
        hooks, which run before the interpreter stops the thread pools polars reads with)."""
        self._thread = threading.Thread(target=self._run, name=self._label, daemon=True)
        self._thread.start()
        threading._register_atexit(self.close)  # type: ignore[attr-defined]

    @abstractmethod
    def flush(self) -> object:
        """Write every buffered row now."""

    def _unwritten(self) -> int:
        """Rows or records a failed final write loses (logged with the failure)."""
        return self._buffered()

    def _write_buffer(self) -> bool:
        try:
            self.flush()
        except Exception:
            log.exception("%s: could not write; will retry", self._label)
            return False
        return True

    def close(self) -> None:
        """Stop the flusher and write what is left (a failure is logged with its count)."""
        with self._wake:
            if self._closing:
                return
            self._closing = True
            self._wake.notify()
        self._thread.join()
        try:
            self.flush()
        except Exception:
            log.exception("%s: %d rows could not be written at exit", self._label,
                          self._unwritten())

    @abstractmethod
    def _buffered(self) -> int: ...


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


W = TypeVar("W", bound=BackgroundFlusher)


class ProcessWriters(Generic[W]):
    """One writer per lakehouse (`root`, `env`) in a process, made by `make(root, env)` on
    first use and again once closed."""

    def __init__(self, make: Callable[[str, str], W]) -> None:
        self._make = make
        self._writers: dict[tuple[str, str], W] = {}
        self._lock = threading.Lock()

    def get(self, root: str, env: str) -> W:
        key = (root.rstrip("/"), env)
        with self._lock:
            if key not in self._writers or self._writers[key]._closing:
                self._writers[key] = self._make(*key)
            return self._writers[key]

    def existing(self, root: str, env: str) -> W | None:
        """The writer of the lakehouse if this process made one, else None."""
        with self._lock:
            return self._writers.get((root.rstrip("/"), env))

    def close_all(self) -> None:
        """Close every writer (each writes what it holds): for a process that is done with
        its lakehouses, e.g. between tests whose temporary roots are removed."""
        with self._lock:
            writers = list(self._writers.values())
            self._writers.clear()
        for writer in writers:
            writer.close()
