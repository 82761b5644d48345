"""Benchmark: point-in-time training sets, ours vs DuckDB ASOF JOIN (and Feast when installed).

    python -m bench.training_set.run --labels 1000000 --rows 10000000 --tables 3 --features 10

Each engine and variant runs in a fresh subprocess, which reports its own peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

import polars as pl

from bench.training_set.data import LABELS, Sizes, client, export_parquet, generate
from bench.training_set.engines import ENGINES

GB = 1024**3


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows per feature table")
    parser.add_argument("--tables", type=int, default=3)
    parser.add_argument("--features", type=int, default=10, help="features per table")
    parser.add_argument("--keys", type=int, help="distinct entities (default rows / 10)")
    parser.add_argument("--window-days", type=float, default=30.0, help="lookback variant")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/lakehouse-bench"))
    parser.add_argument("--feast-venv", type=Path, default=Path("/tmp/feast-venv"))
    parser.add_argument("--feast-timeout", type=int, default=1800)
    parser.add_argument("--repeat", type=int, default=3, help="runs per engine (best is kept)")
    parser.add_argument("--child", choices=sorted(ENGINES), help=argparse.SUPPRESS)
    parser.add_argument("--window", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def _sizes(args: argparse.Namespace) -> Sizes:
    keys = args.keys or max(args.rows // 10, 1)
    return Sizes(args.labels, args.rows, args.tables, args.features, keys)


def _child(args: argparse.Namespace) -> None:
    window = timedelta(days=args.window_days) if args.window else None
    runs = [ENGINES[args.child](args.workdir, _sizes(args), window) for _ in range(args.repeat)]
    result = min(runs, key=lambda r: r["seconds"])
    result["all_seconds"] = [r["seconds"] for r in runs]
    result["all_cpu_seconds"] = [r["cpu_seconds"] for r in runs]
    result["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 3)
    print(json.dumps(result))


def _spawn(extra: list[str], args: argparse.Namespace) -> dict:
    command = [sys.executable, "-m", "bench.training_set.run", *sys.argv[1:], *extra]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _input_size(workdir: Path, sizes: Sizes) -> dict:
    fe = client(workdir)
    in_memory = fe.catalog.read(LABELS).estimated_size()
    for i in range(sizes.tables):
        in_memory += fe.read_table(sizes.table(i)).estimated_size()
    on_disk = sum(f.stat().st_size for f in (workdir / "lakehouse").rglob("*.parquet"))
    return {"in_memory_gb": round(in_memory / GB, 3), "on_disk_gb": round(on_disk / GB, 3)}


def _feast(args: argparse.Namespace, sizes: Sizes) -> dict | None:
    python = args.feast_venv / "bin" / "python"
    if not python.exists():
        return None
    parquet = export_parquet(args.workdir, sizes)
    peer = Path(__file__).with_name("feast_peer.py")
    results = {}
    for variant, window in (("pit", 0.0), ("lookback", args.window_days)):
        command = [str(python), str(peer), "--data", str(parquet), "--tables", str(sizes.tables),
                   "--window-days", str(window), "--repo", str(args.workdir / "feast_repo")]
        try:
            done = subprocess.run(command, capture_output=True, text=True,
                                  timeout=args.feast_timeout, check=False)
            lines = done.stdout.strip().splitlines()
            results[variant] = json.loads(lines[-1]) if done.returncode == 0 and lines else {
                "error": done.stderr.strip().splitlines()[-3:]}
        except subprocess.TimeoutExpired:
            results[variant] = {"error": f"timed out after {args.feast_timeout} s"}
    return results


def main() -> None:
    args = _arguments()
    if args.child:
        _child(args)
        return
    sizes = _sizes(args)
    args.workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    written = generate(args.workdir, sizes)
    report: dict = {
        "sizes": asdict(sizes), "cores": os.cpu_count(), "window_days": args.window_days,
        "write_seconds": {"total": round(time.perf_counter() - started, 1), **written},
        "input": _input_size(args.workdir, sizes),
    }
    for variant, flag in (("pit", []), ("lookback", ["--window"])):
        report[variant] = {name: _spawn(["--child", name, *flag], args) for name in ENGINES}
    report["feast"] = _feast(args, sizes)
    (args.workdir / "results.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    _print_ratios(report)


def _print_ratios(report: dict) -> None:
    memory = report["input"]["in_memory_gb"]
    for variant in ("pit", "lookback"):
        ours, duck = report[variant]["ours"], report[variant]["duckdb"]
        if "error" in ours or "error" in duck:
            continue
        feast = (report["feast"] or {}).get(variant, {})
        line = (
            f"{variant}: ours {ours['seconds']} s vs duckdb {duck['seconds']} s "
            f"(ratio {ours['seconds'] / duck['seconds']:.2f}; CPU {ours['cpu_seconds']} s vs "
            f"{duck['cpu_seconds']} s, ratio {ours['cpu_seconds'] / duck['cpu_seconds']:.2f}); "
            f"peak RSS ours "
            f"{ours['peak_rss_gb']} GB = {ours['peak_rss_gb'] / memory:.2f}x input, duckdb "
            f"{duck['peak_rss_gb']} GB; same results: "
            f"{(ours['matched'], ours['checksum']) == (duck['matched'], duck['checksum'])}"
        )
        if "seconds" in feast:
            ratio = ours["seconds"] / feast["seconds"]
            line += f"; feast {feast['seconds']} s (ours/feast {ratio:.3f})"
        print(line)


if __name__ == "__main__":
    pl.Config.set_tbl_rows(20)
    main()
