"""Monitoring benchmark: the engine's profile + drift against Evidently's `DataDriftPreset`.

    python -m bench.monitoring [--quick] [--rows N] [--repeats R] [--only ours evidently]

Data (`bench/monitoring/data.py`): 50 numeric + 10 categorical columns, `--rows` (default
1,000,000) current rows against as many reference rows, some columns shifted by known amounts;
Parquet, generated once under bench/out/monitoring/. Each side runs `--repeats` times (default
3), alternating, each run in a fresh child process (`bench.common.run_phase`: wall time, peak
RSS by `os.wait4`): ours (`bench/monitoring/ours.py`, the project's venv) and Evidently 0.7.23
(`bench/monitoring/evidently_side.py`, in its own venv `bench/out/evidently-venv`, created on
first use from `evidently-requirements.txt`). Figures are medians; the machine's load average
is recorded before each run. Ours is configured with Evidently's tests and thresholds, and the
two sides' per-column decisions are compared (and both against the planted changes).

Writes bench/out/monitoring[-quick].json and prints the figures as Markdown.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import REPO, Measured, PhaseFailed, fmt_bytes, run_phase, save
from bench.monitoring.data import Column, columns, ensure_data
from bench.monitoring.venv import evidently_python

DEFAULT_ROWS, QUICK_ROWS = 1_000_000, 20_000
GOAL_SECONDS = 10.0
THRESHOLD = 0.1
SIDES = ("ours", "evidently")
COMPUTE_LAPS = {"ours": ("prepare_reference", "profile_current", "drift",
                         "profile_reference", "decide"),
                "evidently": ("compute", "result")}
"""The laps that are the compared work (reading the Parquet files is not)."""


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _run_side(side: str, directory: Path) -> Measured:
    if side == "ours":
        return run_phase("bench.monitoring.ours", [str(directory)])
    return run_phase("bench.monitoring.evidently_side", [str(directory)],
                     python=evidently_python())


def _compute_s(side: str, m: Measured) -> float:
    return sum(m.result["laps"].get(lap, 0.0) for lap in COMPUTE_LAPS[side])


def agreement(planted: list[Column], ours: dict[str, dict[str, Any]],
              theirs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per column: the planted change and its expected measure, each side's method,
    value and decision, and whether the decisions agree (with each other, and with the plant:
    drift planted when the expected measure >= THRESHOLD)."""
    rows = []
    for column in planted:
        a, b = ours.get(column.name, {}), theirs.get(column.name, {})
        rows.append({
            "column": column.name, "categorical": column.categorical, "change": column.change,
            "expected": column.expected, "planted_drift": column.expected >= THRESHOLD,
            "ours_method": a.get("method"), "ours_value": a.get("value"),
            "ours_drift": a.get("drift"),
            "evidently_method": b.get("method"), "evidently_value": b.get("value"),
            "evidently_drift": b.get("drift"),
            "agree": a.get("drift") is not None and a.get("drift") == b.get("drift"),
        })
    return rows


def _compute_cpu(side: str, m: Measured) -> float | None:
    """CPU seconds (all threads) of the compute laps; None for a child that did not count."""
    cpu = m.result.get("lap_cpu_s")
    return None if cpu is None else sum(cpu.get(lap, 0.0) for lap in COMPUTE_LAPS[side])


def _drifted(decided: dict[str, dict[str, Any]]) -> dict[str, bool | None]:
    return {name: column["drift"] for name, column in decided.items()}


def _compute_peak(side: str, m: Measured) -> int:
    """The process's peak RSS during the compute laps (data already loaded, imports done)."""
    peaks = m.result.get("lap_peak_rss", {})
    return max((peaks[lap] for lap in COMPUTE_LAPS[side] if lap in peaks), default=0)


def _side_figures(side: str, runs: list[Measured]) -> dict[str, Any]:
    return {
        "compute_s": statistics.median(_compute_s(side, m) for m in runs),
        "work_s": statistics.median(m.work_s for m in runs),
        "wall_s": statistics.median(m.wall_s for m in runs),
        "peak_rss": statistics.median(m.peak_rss for m in runs),
        "compute_peak_rss": statistics.median(_compute_peak(side, m) for m in runs),
        "compute_cpu_s": statistics.median(cpus) if (cpus := [
            c for m in runs if (c := _compute_cpu(side, m)) is not None]) else None,
        "laps_s": {lap: statistics.median(m.result["laps"][lap] for m in runs)
                   for lap in runs[0].result["laps"]},
        "runs": [{"compute_s": _compute_s(side, m), "compute_cpu_s": _compute_cpu(side, m),
                  "wall_s": m.wall_s, "peak_rss": m.peak_rss,
                  "drifted": sorted(c for c, d in _drifted(m.result["columns"]).items() if d),
                  "load_before": m.result["load_before"]} for m in runs],
        "in_memory_bytes": runs[0].result["in_memory_bytes"],
    }


def markdown(result: dict[str, Any]) -> list[str]:
    """The figures as Markdown: the timing table, then the per-column agreement (`result` as
    `run` returns it, or as saved in bench/out/monitoring*.json)."""
    sides = [s for s in SIDES if s in result["sides"]]
    lines = ["| side | compute (median) | runs (compute) | compute CPU | read | wall incl. "
             "start-up | peak RSS (whole child / compute laps) | data in memory |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for side in sides:
        f = result["sides"][side]
        runs = ", ".join(f"{r['compute_s']:.1f}" for r in f["runs"])
        cpu = f.get("compute_cpu_s")
        lines.append(f"| {side} | {f['compute_s']:.2f} s | {runs} s | "
                     f"{'n/a' if cpu is None else f'{cpu:.1f} s'} | "
                     f"{f['laps_s'].get('read', 0):.2f} s | {f['wall_s']:.1f} s | "
                     f"{fmt_bytes(f['peak_rss'])} / {_bytes(f.get('compute_peak_rss'))} | "
                     f"{fmt_bytes(f['in_memory_bytes'])} |")
    for side in sides:
        laps = result["sides"][side]["laps_s"]
        lines.append(f"\n{side} laps (medians): "
                     + ", ".join(f"{lap} {seconds:.2f} s" for lap, seconds in laps.items()))
    if "ratio" in result:
        lines.append(f"\nEvidently / ours (compute): ×{result['ratio']:.1f}")
    rows = result.get("agreement", [])
    if rows:
        lines += ["", "| column | planted change | expected | ours | Evidently | agree |",
                  "|---|---|---:|---:|---:|---|"]
        for r in rows:
            if r["change"] == "none" and r["agree"] and not r["ours_drift"]:
                continue
            lines.append(f"| {r['column']} | {r['change']} | {r['expected']:.3f} | "
                         f"{_value(r, 'ours')} | {_value(r, 'evidently')} | "
                         f"{'yes' if r['agree'] else '**no**'} |")
        quiet = sum(r["change"] == "none" and r["agree"] and not r["ours_drift"] for r in rows)
        lines.append(f"\n{quiet} unchanged columns: no drift on both sides (not listed).")
        gaps = [(abs(r["ours_value"] - r["evidently_value"]), r["column"]) for r in rows
                if r["ours_value"] is not None and r["evidently_value"] is not None]
        if gaps:
            gap, column = max(gaps)
            lines.append(f"Largest |ours - Evidently| of a column's value: {gap:.2g} ({column}).")
    return lines


def _bytes(n: float | None) -> str:
    return "n/a" if not n else fmt_bytes(n)


def _value(row: dict[str, Any], side: str) -> str:
    value, drift = row[f"{side}_value"], row[f"{side}_drift"]
    shown = "n/a" if value is None else f"{value:.4f}"
    return f"{shown} {'drift' if drift else 'no drift' if drift is not None else '?'}"


def _code_version() -> dict[str, Any]:
    """The commit measured, and the engine files that differed from it in the working tree."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True,
                              text=True).stdout.strip()
    return {"commit": git("rev-parse", "--short", "HEAD"),
            "modified": git("status", "--porcelain", "--", "lakehouse_ml/monitoring").splitlines()}


def summary(rows: int, directory: Path, measured: dict[str, list[Measured]]
            ) -> dict[str, Any]:
    """The figures of the runs so far (medians of each side's runs; ratio and per-column
    agreement once both sides have run)."""
    done = {side: runs for side, runs in measured.items() if runs}
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "rows": rows,
        "repeats": {side: len(runs) for side, runs in done.items()}, "cpus": os.cpu_count(),
        "data": str(directory.relative_to(REPO)), **_code_version(),
        "sides": {side: _side_figures(side, runs) for side, runs in done.items()},
    }
    if len(done) == len(SIDES):
        result["ratio"] = (result["sides"]["evidently"]["compute_s"]
                           / result["sides"]["ours"]["compute_s"])
        decided = {side: [m.result["columns"] for m in runs] for side, runs in done.items()}
        result["same_decisions_every_run"] = all(
            all(_drifted(d) == _drifted(runs[0]) for d in runs) for runs in decided.values())
        result["agreement"] = agreement(columns(directory), decided["ours"][0],
                                        decided["evidently"][0])
    return result


def run(rows: int, repeats: int, only: list[str], name: str) -> dict[str, Any]:
    """Run the sides alternately, saving the figures so far to bench/out/<name>.json after
    each run (a run stopped early keeps them)."""
    directory = ensure_data(rows)
    measured: dict[str, list[Measured]] = {side: [] for side in only}
    result: dict[str, Any] = {}
    for repeat in range(repeats):
        for side in only:
            load = _load()
            print(f"== {side} run {repeat + 1}/{repeats} (load {load})", flush=True)
            m = _run_side(side, directory)
            m.result["load_before"] = load
            measured[side].append(m)
            print(f"   compute {_compute_s(side, m):.2f} s, wall {m.wall_s:.1f} s, "
                  f"peak {fmt_bytes(m.peak_rss)}", flush=True)
            result = summary(rows, directory, measured)
            save(name, result)
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.monitoring", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows, 1 repeat")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--only", nargs="+", choices=SIDES, default=list(SIDES))
    args = parser.parse_args(argv)
    rows = args.rows or (QUICK_ROWS if args.quick else DEFAULT_ROWS)
    repeats = args.repeats or (1 if args.quick else 3)
    name = f"monitoring{'-quick' if args.quick else ''}"
    try:
        result = run(rows, repeats, args.only, name)
    except PhaseFailed as error:
        print(f"monitoring benchmark failed: {error}", file=sys.stderr)
        return 1
    path = save(name, result)
    print("\n".join(markdown(result)))
    print(f"(figures in {path.relative_to(REPO)})")
    disagreements = [r["column"] for r in result.get("agreement", []) if not r["agree"]]
    if disagreements:
        print(f"decisions differ on: {', '.join(disagreements)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
