"""`make mutation`: mutmut over the modules that decide correctness, one module at a time.

    python -m bench.mutation [MODULE ...]   # default: every module in TESTS
    python -m bench.mutation --report       # only rewrite bench/MUTATION.md from stored results

Each module is mutated against its own fast test files (TESTS; the slow Dagster and served-model
tests are left out), and mutmut further runs, per mutated function, only the tests that reached
it in its stats run. Results are kept in mutants/report/ (one JSON per module, so modules can be
run separately) and summarised between the markers of bench/MUTATION.md; the explanations of the
survivors are kept by hand below the markers. Settings shared by every module are in
pyproject.toml's [tool.mutmut]. Needs `fork` (Linux, macOS).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REPORT = REPO / "bench" / "MUTATION.md"
RESULTS = Path("mutants") / "report"
BEGIN, END = "<!-- mutation:begin -->", "<!-- mutation:end -->"
CHILDREN = 2
"""Mutants tested at once (the machine this was sized for has 2 cores)."""

_MEDALLION = ["tests/test_silver_contracts.py", "tests/test_boundaries_medallion.py",
              "tests/test_mutants_medallion.py"]
_LAKE = ["tests/test_lake_evolution.py", "tests/test_delta_semantics.py",
         "tests/test_boundaries_medallion.py"]
_ML = ["tests/test_boundaries_ml*.py", "tests/test_mutants_ml.py"]
TESTS: dict[str, list[str]] = {
    "lakehouse_ml/features/pit.py": [
        "tests/features/test_point_in_time.py", "tests/features/test_boundaries_pit.py"],
    "lakehouse_ml/features/row_lookup.py": [
        "tests/features/test_row_lookup.py", "tests/features/test_boundaries_pit.py"],
    "lakehouse_ml/features/training_table.py": [
        "tests/features/test_training_set.py", "tests/**/test_boundaries_training*.py"],
    "lakehouse_ml/medallion/silver.py": _MEDALLION,
    "lakehouse_ml/medallion/reconcile.py": _MEDALLION,
    "lakehouse_ml/medallion/gold.py": _MEDALLION,
    "lakehouse_ml/ingest/landing.py": ["tests/test_ingest_landing.py",
                                       "tests/test_boundaries_medallion.py"],
    "lakehouse_ml/lake/schema.py": _LAKE,
    "lakehouse_ml/lake/tables.py": [*_LAKE, "tests/test_lake_predicates.py"],
    "lakehouse_ml/ml/gates.py": _ML,
    "lakehouse_ml/ml/deploy.py": _ML,
    "lakehouse_ml/ml/train.py": _ML,
    "lakehouse_ml/serving/tokens.py": ["tests/serving/test_mutants_tokens.py"],
    "lakehouse_ml/serving/payload.py": ["tests/serving/test_mutants_payload.py"],
    "lakehouse_ml/defs/factories/medallion.py": ["tests/**/test_boundaries_*checks*.py"],
}
"""Module → glob patterns of the fast test files that exercise it."""

STATUS = {1: "killed", 3: "killed", 0: "survived", 33: "no tests", 5: "no tests", 34: "skipped",
          36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout"}
COUNTED = ("killed", "survived", "timeout", "no tests", "other")


def _function_of(mutant: str) -> str:
    """`lakehouse_ml.x.y.xǁClsǁmeth__mutmut_3` → `meth`; `...x_func__mutmut_3` → `func`."""
    name = mutant.rsplit(".", 1)[1].rsplit("__mutmut_", 1)[0]
    return name.rsplit("ǁ", 1)[1] if "ǁ" in name else name.removeprefix("x_")


def _line(module: str, function: str, removed: str) -> int | None:
    """The source line of the first line the mutant changed (searched from its function)."""
    source = Path(module).read_text()
    start = next((n.lineno for n in ast.walk(ast.parse(source))
                  if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                  and n.name == function), 1)
    lines = source.splitlines()
    for number in range(start, len(lines) + 1):
        if lines[number - 1].strip() == removed.strip():
            return number
    return None


def _mutate(module: str, tests: list[str]) -> None:
    """In a child process: run mutmut on `module` against `tests`, store the results."""
    from mutmut import __main__ as mutmut_main
    from mutmut.configuration import config
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    settings = config()
    settings.only_mutate = [module]
    settings.pytest_add_cli_args_test_selection = tests
    started = time.monotonic()
    try:
        mutmut_main._run([], max_children=CHILDREN)
    except SystemExit as stop:  # mutmut exits on a failing clean run or an unusable selection
        if stop.code:
            raise
    seconds = time.monotonic() - started
    data = SourceFileMutationData(path=Path(module))
    data.load()
    counts = dict.fromkeys(COUNTED, 0)
    survivors = []
    for name, code in sorted(data.exit_code_by_key.items()):
        status = STATUS.get(code, "other")
        counts[status if status in counts else "other"] += 1
        if status != "survived":
            continue
        diff = get_diff_for_mutant(name, path=Path(module)).splitlines()
        removed = next((d[1:] for d in diff if d.startswith("-") and not d.startswith("---")), "")
        added = [d[1:].strip() for d in diff if d.startswith("+") and not d.startswith("+++")]
        function = _function_of(name)
        survivors.append({"mutant": name, "function": function,
                          "line": _line(module, function, removed),
                          "removed": removed.strip(), "added": " / ".join(added)})
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / (module.replace("/", ".") + ".json")).write_text(json.dumps({
        "module": module, "tests": tests, "seconds": round(seconds),
        "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "counts": counts,
        "survivors": survivors,
    }, indent=1))


def run(module: str) -> None:
    """Mutate `module` afresh in a child process (mutmut keeps its settings per process)."""
    tests = sorted({str(path) for pattern in TESTS[module] for path in Path().glob(pattern)})
    if not tests:
        raise SystemExit(f"{module}: no test file matches {TESTS[module]}")
    for stale in (Path("mutants") / module, Path("mutants") / (module + ".meta")):
        stale.unlink(missing_ok=True)  # regenerate: a plain copy left by another module's run
    print(f"== {module} against {' '.join(tests)}", flush=True)
    child = [sys.executable, "-m", "bench.mutation", "--child", module, *tests]
    subprocess.run(child, check=True)


def _cell(text: str) -> str:
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`" if text else ""


def report(command: str) -> None:
    """Rewrite the generated part of bench/MUTATION.md from mutants/report/."""
    results = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    text = REPORT.read_text() if REPORT.exists() else f"# Mutation testing\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    total = dict.fromkeys(COUNTED, 0)
    lines = [f"Command: `{command}`; {CHILDREN} mutants at a time.", "",
             "| module | tests | " + " | ".join(COUNTED) + " | seconds | finished |",
             "|---|---|" + "---|" * len(COUNTED) + "---|---|"]
    for r in results:
        tests = ", ".join(Path(t).name for t in r["tests"])
        lines.append(f"| {r['module']} | {tests} | "
                     + " | ".join(str(r["counts"][c]) for c in COUNTED)
                     + f" | {r['seconds']} | {r['finished']} |")
        for c in COUNTED:
            total[c] += r["counts"][c]
    lines.append("| **total** | | " + " | ".join(str(total[c]) for c in COUNTED)
                 + f" | {sum(r['seconds'] for r in results)} | |")
    lines += ["", "Survivors (each is explained, or killed by a named test, below):", "",
              "| module | line | function | original | mutant |", "|---|---|---|---|---|"]
    for r in results:
        for s in r["survivors"]:
            lines.append(f"| {r['module']} | {s['line'] or '?'} | {s['function']} | "
                         f"{_cell(s['removed'])} | {_cell(s['added'])} |")
    REPORT.write_text(f"{head}{BEGIN}\n" + "\n".join(lines) + f"\n{END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="modules to mutate (default: all in TESTS)")
    parser.add_argument("--report", action="store_true", help="only rewrite bench/MUTATION.md")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.chdir(REPO)
    if args.child:
        return _mutate(args.modules[0], args.modules[1:])
    unknown = [m for m in args.modules if m not in TESTS]
    if unknown:
        raise SystemExit(f"not a mutated module: {unknown}; choose from {list(TESTS)}")
    if not args.report:
        for module in args.modules or TESTS:
            run(module)
    report(" ".join(["python -m bench.mutation", *args.modules]))


if __name__ == "__main__":
    main()
