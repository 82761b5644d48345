"""`make mutation` fails loudly, naming the group, instead of counting every mutant *no tests*:
when a group lists a test file that does not exist (the `ml` group listed
tests/test_mutants_ml.py before it was written, and the run silently used fewer tests), and when
the stats run reached none of the mutated functions."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bench import mutation
from bench.mutation import GROUPS, REPO, selected_tests, unreached


@pytest.fixture(autouse=True)
def in_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # `make mutation` runs there; the patterns are relative to it


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_every_pattern_of_every_group_matches_a_test_file(group: str) -> None:
    tests = selected_tests(group)
    assert tests and not tests[0].startswith("--deselect=")
    assert all(Path(t.removeprefix("--deselect=").partition("::")[0]).is_file() for t in tests)


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_the_child_process_reads_back_its_group_and_every_test(group: str) -> None:
    """`--deselect=<node id>` among a group's tests was read as an unknown option of the child
    process: the medallion and lake groups stopped before mutating anything."""
    tests = selected_tests(group)
    args = mutation.parser().parse_args(mutation.child_arguments(group, tests))
    assert args.child and args.groups == [group, *tests]


def test_a_group_naming_a_missing_test_file_stops_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(GROUPS, "broken", (["lakehouse_ml/ml/gates.py"], [
        "tests/test_boundaries_ml.py", "tests/test_no_such_file.py"]))
    with pytest.raises(SystemExit) as stop:
        selected_tests("broken")
    assert str(stop.value) == ("broken: tests/test_no_such_file.py (bench/mutation.py GROUPS) "
                               "matches no test file")
    for missing in ("tests/test_no_such_file.py::test_x", "--deselect=tests/no_such.py::t"):
        monkeypatch.setitem(GROUPS, "broken", (["lakehouse_ml/ml/gates.py"], [missing]))
        with pytest.raises(SystemExit, match=r"^broken: tests/(test_)?no_such(_file)?\.py "):
            selected_tests("broken")


def test_files_then_node_ids_then_deselections(monkeypatch: pytest.MonkeyPatch) -> None:
    node = "tests/test_holdout.py::test_a_naive_holdout_start_is_refused"
    monkeypatch.setitem(GROUPS, "mixed", (["lakehouse_ml/ml/train.py"], [
        f"--deselect={node}", node, "tests/test_holdout.py", "tests/test_boundaries_ml.py",
        "tests/test_holdout.py"]))
    assert selected_tests("mixed") == ["tests/test_boundaries_ml.py", "tests/test_holdout.py",
                                       node, f"--deselect={node}"]


def test_a_stats_run_reaching_no_mutated_function_stops_the_group() -> None:
    functions = {"lakehouse_ml.ml.gates.x_slice_gap", "lakehouse_ml.ml.gates.xǁGateǁrow"}
    with pytest.raises(SystemExit) as stop:
        unreached("ml", functions, {"lakehouse_ml.ml.gates.x_slice_gap": set(),
                                    "lakehouse_ml.other.x_f": {"tests/t.py::t"}})
    assert str(stop.value) == (
        "ml: the stats run reached none of the 2 mutated functions of "
        f"{' '.join(mutation.GROUPS['ml'][0])} with the group's tests")
    assert unreached("ml", functions, {"lakehouse_ml.ml.gates.x_slice_gap": {"t.py::t"}}) == [
        "lakehouse_ml.ml.gates.xǁGateǁrow"]
    assert unreached("ml", set(), {}) == []


ISSUE_8_MODULES = {f"lakehouse_ml/{m}.py" for m in (
    "features/pit", "features/row_lookup", "features/training_table", "medallion/silver",
    "medallion/reconcile", "medallion/gold", "ingest/landing", "lake/schema", "lake/tables",
    "ml/gates", "ml/deploy", "ml/train", "serving/tokens", "serving/payload",
    "defs/factories/medallion")}
"""The modules issue 8 lists (point-in-time and lookups, silver/reconcile/gold, ingest parsing,
schema enforcement, MERGE, gates and deploy, tokens and payloads, asset checks)."""


def test_make_mutation_runs_issue_8s_modules_and_only_those_by_default() -> None:
    default = mutation.groups_to_run([])
    assert default == list(mutation.DEFAULT_GROUPS)
    assert {m for g in default for m in GROUPS[g][0]} == ISSUE_8_MODULES
    later = [g for g in GROUPS if g not in default]
    assert {"online", "monitoring", "access"} <= set(later)
    assert not ISSUE_8_MODULES & {m for g in later for m in GROUPS[g][0]}


def test_a_group_outside_the_default_runs_when_named_and_all_runs_every_group() -> None:
    assert mutation.groups_to_run(["monitoring", "point-in-time"]) == ["monitoring",
                                                                        "point-in-time"]
    assert mutation.groups_to_run(["all"]) == list(GROUPS)
    with pytest.raises(SystemExit, match=r"^unknown group\(s\) \['nope'\]: choose from \["):
        mutation.groups_to_run(["ml", "nope"])


def test_each_pytest_session_of_a_run_has_a_basetemp_of_its_own_removed_when_it_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Sessions sharing pytest's default `/tmp/pytest-of-<user>/` each removed older sessions'
    folders there (other runs' too): 1 to 4 CPU-s of a mutant's worker."""
    from mutmut.runners.harness import PytestRunner

    monkeypatch.setattr(PytestRunner, "execute_pytest", PytestRunner.execute_pytest)
    root, seen = tmp_path / "root", tmp_path / "seen.txt"
    root.mkdir()
    (tmp_path / "test_records.py").write_text(
        "def test_records(tmp_path):\n"
        f"    with open({str(seen)!r}, 'a') as out:\n"
        "        out.write(str(tmp_path) + '\\n')\n"
        "    assert tmp_path.is_dir()\n")
    mutation._own_basetemp(root)
    runner = PytestRunner()
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        assert runner.execute_pytest(["-q", "test_records.py"]) == 0
    first, second = (Path(line) for line in seen.read_text().splitlines())
    assert first.is_relative_to(root) and second.is_relative_to(root)
    assert first.parent != second.parent  # a basetemp per session
    assert list(root.iterdir()) == []  # each removed when its session ended


def test_a_group_s_cpu_per_mutant_is_reported_where_it_was_measured() -> None:
    assert mutation._per_mutant({"mutant_cpu_seconds": 10.0, "mutants_tested": 4}) == "2.50"
    assert mutation._per_mutant({"mutant_cpu_seconds": 10.0, "mutants_tested": 0}) == ""
    assert mutation._per_mutant({"seconds": 391}) == ""
    # converted from MUTATION.md's table: the figure it printed, when nothing else is known
    assert mutation._per_mutant({"seconds": 391, "cpu_s_per_mutant": 2.0}) == "2.00"
    assert mutation._per_mutant({"mutant_cpu_seconds": 9.0, "mutants_tested": 4,
                                 "cpu_s_per_mutant": 2.0}) == "2.25"


def test_a_stale_copied_data_file_is_removed_so_that_mutmut_copies_the_source_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A domain's policy.yaml copied by an earlier run was kept when its source changed: the
    monitoring group's tests then loaded the old policy, every domain broken (stats failed)."""
    monkeypatch.chdir(tmp_path)
    package = Path("lakehouse_ml", "domains", "d")
    (Path("mutants") / package).mkdir(parents=True)
    package.mkdir(parents=True)
    for name, source, copy in (("changed.yaml", "new", "old"), ("same.yaml", "x", "x"),
                               ("gone.yaml", None, "old")):
        if source is not None:
            (package / name).write_text(source)
        (Path("mutants") / package / name).write_text(copy)

    mutation._drop_stale([])

    assert sorted(p.name for p in (Path("mutants") / package).iterdir()) == ["same.yaml"]


def _block(report: Path) -> list[str]:
    """The generated lines of a MUTATION.md, between its markers."""
    text = report.read_text()
    return text.partition(mutation.BEGIN)[2].partition(mutation.END)[0].strip("\n").splitlines()


def test_results_are_kept_in_a_tracked_folder_holding_every_group() -> None:
    """They were kept in mutants/report/, git-ignored: on another machine (or after a clean) the
    next `--report` dropped every group run elsewhere from bench/MUTATION.md."""
    assert mutation.RESULTS == REPO / "bench" / "mutation_results"
    for group in GROUPS:
        stored = mutation.RESULTS / f"{group}.json"
        assert json.loads(stored.read_text())["group"] == group
        ignored = subprocess.run(["git", "check-ignore", "-q", str(stored)], cwd=REPO)
        assert ignored.returncode == 1, f"{stored} is git-ignored"


def test_the_report_is_rendered_from_the_tracked_results_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bench/MUTATION.md's generated block is what `--report` renders from
    bench/mutation_results/ (but for its "Last run" line): no row lives only in the block."""
    copy = tmp_path / "MUTATION.md"
    shutil.copy(mutation.REPORT, copy)
    monkeypatch.setattr(mutation, "REPORT", copy)
    mutation.report("python -m bench.mutation")
    committed = (REPO / "bench" / "MUTATION.md").read_text()
    assert _block(copy)[0].startswith("Last run: `python -m bench.mutation`")
    assert _block(copy)[1:] == _block(REPO / "bench" / "MUTATION.md")[1:]
    text = copy.read_text()  # the hand-written text before and after the markers is kept
    assert text.partition(mutation.BEGIN)[0] == committed.partition(mutation.BEGIN)[0]
    assert text.partition(mutation.END)[2] == committed.partition(mutation.END)[2]


def test_a_group_without_a_stored_result_is_listed_as_not_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`report` listed only the groups whose JSON it found: a missing one vanished silently
    (rows, survivors, tests) from bench/MUTATION.md."""
    results = tmp_path / "results"
    shutil.copytree(mutation.RESULTS, results)
    (results / "tokens.json").unlink()
    report = tmp_path / "MUTATION.md"
    report.write_text(f"head\n{mutation.BEGIN}\nold\n{mutation.END}\ntail, kept\n")
    monkeypatch.setattr(mutation, "RESULTS", results)
    monkeypatch.setattr(mutation, "REPORT", report)

    mutation.report("python -m bench.mutation --report")

    text = report.read_text()
    assert text.startswith(f"head\n{mutation.BEGIN}\nLast run: `python -m bench.mutation "
                           "--report`") and text.endswith(f"{mutation.END}\ntail, kept\n")
    block = _block(report)
    assert "old" not in block
    assert "| tokens | lakehouse_ml/serving/tokens.py |  |  |  |  |  |  |  |  | not run: no " \
           "stored result |" in block
    assert "- tokens: not run" in block
    assert not any(line.startswith("| lakehouse_ml/serving/tokens.py |") for line in block)
    rows = {tuple(c.strip() for c in line.split("|")[1:3]) for line in block
            if line.startswith("| ") and "lakehouse_ml/" in line.split("|")[2]}
    assert rows == {(g, m) for g in GROUPS for m in GROUPS[g][0]}  # every group, tokens too
    payload = json.loads((results / "payload.json").read_text())
    assert "- payload: " + ", ".join(f"`{t}`" for t in payload["tests"]) in block
    survived = payload["modules"]["lakehouse_ml/serving/payload.py"]["counts"]["survived"]
    assert survived and sum(line.startswith("| lakehouse_ml/serving/payload.py |")
                            for line in block) == survived
