"""A mutation run's timeout reaches only the worker it was set for (bench/mutation_timeouts.py):
mutmut's own sent SIGXCPU to whatever process held the worker's PID at the deadline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from bench.mutation_timeouts import Deadlines, install, start_time


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])


def test_a_process_s_start_time_is_its_own_and_none_once_it_is_gone() -> None:
    first, second = sleeper(), sleeper()
    try:
        assert start_time(first.pid) is not None
        assert start_time(first.pid) == start_time(first.pid)
        assert start_time(os.getpid()) not in (None, start_time(first.pid))
    finally:
        for process in (first, second):
            process.kill()
            process.wait()
    assert start_time(first.pid) is None


def test_the_worker_still_running_at_its_deadline_gets_sigxcpu() -> None:
    worker = sleeper()
    Deadlines().register(worker.pid, 0.2)
    assert worker.wait(timeout=10) == -signal.SIGXCPU


def test_a_process_that_got_the_pid_after_the_worker_is_not_signalled() -> None:
    """What a recycled PID looks like to the deadline: the process holding it did not start
    when the deadline was set (here: the deadline names a start time not its own)."""
    other = sleeper()
    try:
        deadlines = Deadlines()
        deadlines.at(time.time() + 0.1, other.pid, str(int(start_time(other.pid) or 0) - 1))
        deadlines.at(time.time() + 0.1, other.pid, None)  # no such process when it was set
        time.sleep(1.0)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_install_routes_mutmut_s_runners_through_the_deadlines() -> None:
    from mutmut.workers import isolation

    before = isolation.register_timeout
    try:
        install()
        assert isolation.register_timeout.__self__.__class__ is Deadlines
        worker = sleeper()
        isolation.register_timeout(worker.pid, 0.2)
        assert worker.wait(timeout=10) == -signal.SIGXCPU
    finally:
        isolation.register_timeout = before
