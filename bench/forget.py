"""`lakehouse-ml forget` on a whole lakehouse: wall time, and bytes rewritten against the
lakehouse's size (issue 14, Benchmark).

    .venv/bin/python -m bench.forget [--customers 2000 --days 120] [--key customer_id=1]
                                     [--keep DIR | --built DIR | --lakehouse DIR --landing DIR]
                                     [--env dev]

Builds the `make run` lakehouse in a temporary folder (`lakehouse-ml generate`, then
`lakehouse-ml run`, as `make run` does; `--customers 50000 --days 180` for the benchmark
size), or copies a built one (`--built`: a `make run` data folder; `--lakehouse` and
`--landing`: a root and landing zone such as `bench.incremental`'s 50,000 × 180 ones, with
`--env bench`), then runs `forget --dry-run` and `forget` on it, each in a child process.
Measures:
wall time of each; the lakehouse's and landing zone's bytes before; bytes the erasure wrote
(its report); which data files it replaced, each of which must have held the subject (it
rewrites only files holding the subject: checked, the benchmark fails otherwise); tables it
did not name are byte-identical. Prints the figures as JSON (`BENCH_RESULT`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

from bench.common import REPO, emit

BOOKKEEPING = "governance/"
"""Under the environment's folder, the audit log and lineage tables: every call appends to
them. (Manifests are brought up to date with the landed files they describe.)"""
CLI = str(Path(sys.executable).parent / "lakehouse-ml")


def size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def lakehouse_ml(env: dict[str, str], *args: str) -> tuple[float, str]:
    """Run the CLI; (wall seconds, stdout). Raises on a non-zero exit, with its stderr."""
    started = time.perf_counter()
    done = subprocess.run([CLI, *args], env=env, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"lakehouse-ml {' '.join(args)} exited {done.returncode}: "
                           f"{done.stderr.strip()[-2000:]}")
    return time.perf_counter() - started, done.stdout


def data_files(root: Path) -> dict[str, str]:
    """Every Parquet data file (not the Delta logs) under the root → sha256 of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*.parquet") if "_delta_log" not in p.parts}


def current_files(root: Path) -> set[str]:
    """The data files the latest version of every table references (relative to root)."""
    from deltalake import DeltaTable

    found = set()
    for log in root.rglob("_delta_log"):
        table = log.parent
        for uri in DeltaTable(str(table)).file_uris():
            found.add(str(Path(uri.removeprefix("file://")).relative_to(root)))
    return found


def holds(file: Path, column: str, value: str) -> bool:
    frame = pl.read_parquet(file)
    if column not in frame.columns:
        return False
    return frame.filter(pl.col(column).cast(pl.String).str.strip_chars() == value).height > 0


def run(customers: int, days: int, key: str, folder: Path, built: bool = False,
        environment: str = "dev") -> dict[str, Any]:
    """`built`: `folder` already holds `lakehouse/` and `landing/` (no generate or run)."""
    root, landing = folder / "lakehouse", folder / "landing"
    env = {**os.environ, "LAKEHOUSE_ROOT": str(root), "LAKEHOUSE_LANDING": str(landing),
           "LAKEHOUSE_ENV": environment,
           "MLFLOW_TRACKING_URI": f"sqlite:///{folder}/mlflow/mlflow.db",
           "DAGSTER_HOME": str(folder / "dagster")}
    for part in ("dagster", "mlflow"):
        (folder / part).mkdir(parents=True, exist_ok=True)
    build_s = 0.0
    if not built:
        build_s = lakehouse_ml(env, "generate", "--customers", str(customers), "--days",
                               str(days))[0]
        build_s += lakehouse_ml(env, "run")[0]
    lakehouse_bytes, landing_bytes = size(root), size(landing)
    column, _, value = key.partition("=")
    before, current = data_files(root), current_files(root)
    holding = {f for f in current if holds(root / f, column, value)}
    dry_s, dry = lakehouse_ml(env, "forget", "--key", key, "--dry-run", "--json")
    forget_s, out = lakehouse_ml(env, "forget", "--key", key, "--json")
    report = json.loads(out)
    after = data_files(root)
    replaced = sorted(f for f in current if f not in after or after[f] != before[f])
    without = [f for f in replaced if f not in holding]
    touched = {p["name"].split(".", 1)[1].replace(".", "/") for p in report["places"]
               if p["kind"] == "table"}
    untouched_changed = sorted(
        f for f in set(before) | set(after) if before.get(f) != after.get(f)
        and not any(f.startswith(f"{environment}/{t}/") for t in touched)
        and not f.startswith(f"{environment}/{BOOKKEEPING}") and "_manifest/" not in f)
    if without or untouched_changed:
        raise RuntimeError(f"forget rewrote files without the subject: {without[:5]}, or "
                           f"changed tables it did not name: {untouched_changed[:5]}")
    by_kind: dict[str, int] = {}
    for place in report["places"]:
        by_kind[place["kind"]] = by_kind.get(place["kind"], 0) + place["bytes_rewritten"]
    return {
        "customers": customers, "days": days, "env": environment,
        "build_s": round(build_s, 1),
        "dry_run_s": round(dry_s, 1), "forget_s": round(forget_s, 1),
        "places": len(report["places"]), "dry_run_places": len(json.loads(dry)["places"]),
        "lakehouse_bytes": lakehouse_bytes, "landing_bytes": landing_bytes,
        "bytes_rewritten": report["bytes_rewritten"], "bytes_rewritten_by_kind": by_kind,
        "rewritten_share": round(report["bytes_rewritten"] / (lakehouse_bytes + landing_bytes),
                                 4),
        "data_files": len(current), "data_files_holding_subject": len(holding),
        "data_files_replaced": len(replaced),
        "data_files_replaced_without_subject": len(without),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.forget", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--key", default="customer_id=1")
    parser.add_argument("--keep", type=Path, help="build in DIR and keep it")
    parser.add_argument("--built", type=Path, help="a copy of DIR (lakehouse/, landing/, "
                        "mlflow/ as `make run` leaves them) instead of building one")
    parser.add_argument("--lakehouse", type=Path, help="a copy of this root instead")
    parser.add_argument("--landing", type=Path, help="with --lakehouse: its landing zone")
    parser.add_argument("--env", default="dev", help="the environment (LAKEHOUSE_ENV)")
    args = parser.parse_args(argv)
    parts = ({part: args.built / part for part in ("lakehouse", "landing", "mlflow")}
             if args.built else {"lakehouse": args.lakehouse, "landing": args.landing}
             if args.lakehouse else None)
    if parts:
        with tempfile.TemporaryDirectory(prefix="bench-forget-") as folder:
            for part, source in parts.items():
                if source is not None and source.exists():
                    shutil.copytree(source, Path(folder) / part)
            result = run(args.customers, args.days, args.key, Path(folder), built=True,
                         environment=args.env)
    elif args.keep:
        result = run(args.customers, args.days, args.key, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-forget-") as folder:
            result = run(args.customers, args.days, args.key, Path(folder))
    print(json.dumps(result, indent=2))
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
