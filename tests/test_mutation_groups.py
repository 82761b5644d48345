"""`make mutation` fails loudly, naming the group, instead of counting every mutant *no tests*:
when a group lists a test file that does not exist (the `ml` group listed
tests/test_mutants_ml.py before it was written, and the run silently used fewer tests), and when
the stats run reached none of the mutated functions."""

from __future__ import annotations

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
