"""Run every benchmark at its documented default size (`--quick`: small smoke sizes).

    python -m bench [--quick] [--only NAME ...]   (NAME: ingestion, incremental, model_lifecycle,
                                                  training_set, serving, monitoring)

Prints a summary and writes all figures to bench/out/results[-quick].json. The training-set,
serving and monitoring benchmarks have their own runners (`python -m bench.<name>.run`, run
with their defaults; under --quick only if they accept --quick); training-set and serving
write their own RESULTS.md, monitoring its figures to bench/out/monitoring[-quick].json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench import incremental, ingestion, model_lifecycle
from bench.common import REPO, PhaseFailed, save

SCRIPTED = ("training_set", "serving", "monitoring")
"""Benchmarks with their own runner, `python -m bench.<name>.run`."""
BENCHMARKS = ("ingestion", "incremental", "model_lifecycle", *SCRIPTED)


def _scripted(name: str, quick: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", f"bench.{name}.run"]
    if quick:  # their defaults are full size: pass --quick only if they have one, else skip
        usage = subprocess.run([*command, "--help"], cwd=REPO, capture_output=True, text=True)
        if "--quick" not in usage.stdout:
            return {"status": "skipped", "summary": [
                f"{name}: skipped under --quick (it has no --quick; run without it)"]}
        command.append("--quick")
    print(f"== {name}: {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    code = subprocess.call(command, cwd=REPO)
    wall = time.perf_counter() - started
    status = "ok" if code == 0 else f"exit {code}"
    return {"status": status, "wall_s": round(wall, 1),
            "summary": [f"{name}: {status} in {wall:.0f} s (its own output above)"]}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small smoke sizes")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS))
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
                               "quick": args.quick}
    summaries: list[str] = []
    failed = False
    for name in args.only:
        try:
            if name == "ingestion":
                result = ingestion.run(ingestion.QUICK if args.quick else ingestion.DEFAULT)
                summaries += ingestion.summary(result)
            elif name == "incremental":
                result = incremental.run(incremental.QUICK if args.quick else incremental.DEFAULT)
                summaries += incremental.summary(result)
            elif name == "model_lifecycle":
                result = model_lifecycle.run(model_lifecycle.QUICK if args.quick
                                             else model_lifecycle.DEFAULT)
                summaries += model_lifecycle.summary(result)
            else:
                result = _scripted(name, args.quick)
                summaries += result.pop("summary")
                failed |= result["status"] not in ("ok", "absent", "skipped")
        except PhaseFailed as error:
            result = {"status": "failed", "error": str(error)}
            summaries.append(f"{name}: FAILED: {error}")
            failed = True
        results[name] = result
        path = save(f"results{'-quick' if args.quick else ''}", results)  # after each one
    print("\n===== summary =====")
    print("\n".join(summaries))
    print(f"(figures in {path.relative_to(REPO)})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
