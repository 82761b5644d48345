"""mutmut's wall-clock timeouts, sent only to the worker they were set for.

mutmut 3.8.1 (`mutmut/workers/timeout.py`) sets, for each worker it forks, a deadline after
which a thread sends SIGXCPU to the worker's PID, and never cancels it: a deadline outlives
its worker ("expired entries for already-terminated processes remain in the heap"), and at
the deadline SIGXCPU goes to whatever process holds that PID then. PIDs wrap at
`/proc/sys/kernel/pid_max` (32,768 on this machine) within minutes of a run's forks, so a
stale deadline killed another mutant's worker (a false *timeout*, which counts as a kill) or
any process on the machine: seen on 2026-12-01, another session's pytest of
`test_erasure.py` (exit 152), a `lakehouse-ml serve` child (exit -24), and the `lake` group's
clean run ("Failed to run clean test", which stopped `make mutation`).

Here each deadline also records its process's start time (`/proc/<pid>/stat`, field 22,
clock ticks after boot: with the PID, unique among a machine's processes since boot), and
SIGXCPU is sent only if the process holding the PID at the deadline started then: the
worker itself, finished or not yet reaped. Where there is no `/proc`, mutmut's own timeouts
are kept.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import signal
import threading
import time
from pathlib import Path


def start_time(pid: int) -> str | None:
    """Process `pid`'s start time (`/proc/<pid>/stat` field 22, clock ticks after boot, as
    text); None if no process has that PID. The command name (field 2, in parentheses) may
    hold spaces and parentheses, so fields are counted after its last `)`."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


class Deadlines:
    """Deadlines `(time.time() seconds, pid, start time)`, one thread sending SIGXCPU at each
    to the process that had the PID when it was set. The thread starts with the first
    deadline, in the process that sets it (mutmut's fork server, forked after `install`)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str | None]] = []
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def register(self, pid: int, timeout_s: float) -> None:
        """mutmut's `register_timeout(pid, timeout_s)`: SIGXCPU to `pid` in `timeout_s`
        seconds, if it is still the process that has it now."""
        self.at(time.time() + timeout_s, pid, start_time(pid))

    def at(self, deadline: float, pid: int, started: str | None) -> None:
        """SIGXCPU at `deadline` (`time.time()` seconds) to `pid` if it started at `started`
        (`start_time`); a None start (no such process when set) sends nothing."""
        with self._changed:
            if self._thread is None:
                self._thread = threading.Thread(target=self._send, daemon=True,
                                                name=f"{os.getpid()}-mutation-deadlines")
                self._thread.start()
            heapq.heappush(self._heap, (deadline, pid, started))
            self._changed.notify()

    def _send(self) -> None:
        with self._changed:
            while True:
                while not self._heap:
                    self._changed.wait()
                now = time.time()
                while self._heap and self._heap[0][0] <= now:
                    _, pid, started = heapq.heappop(self._heap)
                    if started is not None and start_time(pid) == started:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGXCPU)
                if self._heap:
                    self._changed.wait(timeout=max(0.0, self._heap[0][0] - now))


def install() -> None:
    """Make mutmut's runners (`mutmut.workers.isolation`) set their timeouts through a
    `Deadlines` (before mutmut forks its fork server, which then inherits it)."""
    if start_time(os.getpid()) is None:
        return  # no /proc: mutmut's own timeouts
    from mutmut.workers import isolation

    isolation.register_timeout = Deadlines().register
