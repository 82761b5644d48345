"""Shared by the benchmarks: run one phase in a fresh child process, time it, take its peak RSS.

A phase is `python -m <module> <args>`; the child does its work and prints one line
`BENCH_RESULT <json>` (see `emit`). The parent waits for that exact child with `os.wait4`, whose
rusage is the child's own (unlike RUSAGE_CHILDREN, which keeps the maximum over all children),
so each phase's peak memory is its own.

Also the cached landing-zone generation both benchmarks use (`python -m bench.common generate`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
START = date(2026, 1, 1)
"""First generated day of every benchmark data set (fixed, so the files are reproducible)."""
SEED = 7
MARKER = "BENCH_RESULT "
GIB = 1024**3


@dataclass(frozen=True)
class Size:
    """A generated data set's size."""

    customers: int
    days: int


def size_parser(prog: str, description: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line: `--quick`, or `--customers N` / `--days D` overrides."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small smoke size")
    parser.add_argument("--customers", type=int)
    parser.add_argument("--days", type=int)
    return parser


def chosen_size(args: argparse.Namespace, default: Size, quick: Size) -> Size:
    base = quick if args.quick else default
    return Size(args.customers or base.customers, args.days or base.days)


class PhaseFailed(RuntimeError):
    """A child phase exited non-zero or printed no result."""


@dataclass(frozen=True)
class Measured:
    """One child phase: wall time seen by the parent (interpreter start and imports included),
    its peak resident memory, and what the child reported (its own `work_s` among them)."""

    wall_s: float
    peak_rss: int
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def work_s(self) -> float:
        return float(self.result.get("work_s", self.wall_s))


def run_phase(
    module: str, args: Sequence[str], env: Mapping[str, str] | None = None,
    wrap: Sequence[str] = (), python: str | Path = sys.executable,
) -> Measured:
    """Run `python -m module args` (optionally under `wrap`, e.g. a profiler; `python`: another
    interpreter, e.g. a peer's own venv) and measure it."""
    command = [*wrap, str(python), "-m", module, *args]
    child_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with tempfile.TemporaryFile(mode="w+") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, cwd=REPO, env=child_env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        lines = out.read().splitlines()
    results = [json.loads(line[len(MARKER):]) for line in lines if line.startswith(MARKER)]
    for line in lines:
        if not line.startswith(MARKER):
            print(f"    | {line}", flush=True)
    if proc.returncode != 0 or not results:
        raise PhaseFailed(f"{' '.join(command)} exited {proc.returncode} without a result")
    result = results[-1]
    # ru_maxrss (KiB on Linux) only covers the time since the child's last per-lap reset of
    # the counter, so the phase's peak is the larger of it and what the child tracked
    peak = max(usage.ru_maxrss * 1024, int(result.get("peak_rss", 0)))
    return Measured(wall, peak, result)


def emit(result: Mapping[str, Any]) -> None:
    """Child side: hand the phase's result to the parent."""
    print(MARKER + json.dumps(result, default=str), flush=True)


def _reset_peak_rss() -> bool:
    """Linux: restart the process's peak-RSS counter (VmHWM); False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def _current_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class RssSampler:
    """Child side: samples this process's RSS every `interval` s in a thread, to attribute
    memory to spans of wall-clock time (e.g. Dagster steps, from their event timestamps)."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), _current_rss()))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak_between(self, start: float, end: float) -> int:
        return max((rss for t, rss in self.samples if start <= t <= end), default=0)


class Stopwatch:
    """Child side: named laps, in order, plus the total; each lap's CPU time (user + system,
    all threads: more than the wall time when threads run in parallel, load-independent); on
    Linux also each lap's peak RSS (the counter is reset at the start of every lap, so a lap's
    peak is its own)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.peaks: dict[str, int] = {}
        self._peak = 0
        self._started = time.perf_counter()

    @contextmanager
    def lap(self, name: str) -> Iterator[None]:
        self._peak = max(self._peak, _peak_rss())  # resetting would lose the phase's peak
        per_lap = _reset_peak_rss()
        started, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.laps[name] = self.laps.get(name, 0.0) + time.perf_counter() - started
            self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - cpu
            if per_lap:
                self.peaks[name] = max(self.peaks.get(name, 0), _peak_rss())

    @property
    def total(self) -> float:
        return time.perf_counter() - self._started

    def result(self, **extra: Any) -> dict[str, Any]:
        """What a phase emits: work time, laps, per-lap CPU time, per-lap and whole-phase
        peak RSS."""
        return {"work_s": self.total, "laps": self.laps, "lap_cpu_s": self.cpu,
                "lap_peak_rss": self.peaks,
                "peak_rss": max(self._peak, _peak_rss()), **extra}


def day_keys(days: int, first: int = 0) -> list[str]:
    """Landing-folder names of `days` consecutive days starting `first` days after START."""
    return [(START + timedelta(days=first + i)).isoformat() for i in range(days)]


def landing_dir(benchmark: str, customers: int, days: int) -> Path:
    return OUT / benchmark / f"landing-{customers}c-{days}d-s{SEED}"


def generated_days(landing: Path) -> int:
    """Days already generated into `landing` (0 when there is nothing usable)."""
    params = landing / "_generator.json"
    return int(json.loads(params.read_text())["days"]) if params.is_file() else 0


def ensure_landing(landing: Path, customers: int, days: int, extra_day: bool = False) -> str:
    """Generate (once, cached) `days` days, then with `extra_day` one more via
    `generate_next_day`. Each generation runs in a child; returns what was done."""
    have = generated_days(landing)
    if have not in (days, days + 1):
        shutil.rmtree(landing, ignore_errors=True)
        m = run_phase("bench.common", ["generate", str(landing), str(customers), str(days)])
        print(f"  generated {customers:,} customers x {days} days in {m.wall_s:.0f} s "
              f"(peak {fmt_bytes(m.peak_rss)}) -> {landing}", flush=True)
        have = days
    if extra_day and have == days:
        m = run_phase("bench.common", ["next-day", str(landing)])
        print(f"  generated day {days + 1} in {m.wall_s:.1f} s", flush=True)
        return "generated"
    return "cached" if have else "generated"


def save(name: str, result: dict[str, Any]) -> Path:
    """Write a benchmark's figures to bench/out/<name>.json."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit in ("B", "KiB") else f"{n:.2f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def fmt_rate(records: float, seconds: float) -> str:
    return f"{records / seconds:,.0f} rec/s" if seconds > 0 else "n/a"


def _generate_main(argv: Sequence[str]) -> None:
    from lakehouse_ml.domains.churn.generator import generate, generate_next_day

    parser = argparse.ArgumentParser(prog="python -m bench.common")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate")
    gen.add_argument("landing", type=Path)
    gen.add_argument("customers", type=int)
    gen.add_argument("days", type=int)
    nxt = sub.add_parser("next-day")
    nxt.add_argument("landing", type=Path)
    args = parser.parse_args(argv)
    watch = Stopwatch()
    if args.command == "generate":
        report = generate(args.landing, customers=args.customers, days=args.days, start=START,
                          seed=SEED, progress=False)
    else:
        report = generate_next_day(args.landing, progress=False)
    emit(watch.result(records=report.records))


if __name__ == "__main__":
    _generate_main(sys.argv[1:])
