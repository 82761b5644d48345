"""`make test` hands files to workers slowest first (tests/durations.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.durations import file_seconds, slowest_files_first


class Item:
    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid


def test_recorded_seconds_are_summed_per_file_including_test_classes(tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(
        '<testsuites><testsuite>'
        '<testcase classname="tests.test_a" name="test_one" time="1.25"/>'
        '<testcase classname="tests.test_a" name="test_two" time="2"/>'
        '<testcase classname="tests.serving.test_b.TestGroup" name="test_x" time="4"/>'
        '</testsuite></testsuites>')
    assert file_seconds(report) == {"tests/serving/test_b.py": 4.0, "tests/test_a.py": 3.2}


def test_files_go_slowest_first_keeping_each_files_order_unknown_ones_at_the_median() -> None:
    ids = ["tests/a.py::t1", "tests/a.py::t2", "tests/b.py::t1", "tests/new.py::t1",
           "tests/c.py::t2", "tests/c.py::t1"]
    items = [Item(i) for i in ids]
    slowest_files_first(items, {"tests/a.py": 1.0, "tests/b.py": 5.0, "tests/c.py": 9.0})  # type: ignore[arg-type]
    assert [i.nodeid for i in items] == [
        "tests/c.py::t2", "tests/c.py::t1", "tests/b.py::t1", "tests/new.py::t1",
        "tests/a.py::t1", "tests/a.py::t2"]


@pytest.mark.parametrize("recorded", [{}])
def test_without_a_record_the_collection_order_stays(recorded: dict[str, float]) -> None:
    ids = ["tests/z.py::t", "tests/a.py::t", "tests/z.py::u"]
    items = [Item(i) for i in ids]
    slowest_files_first(items, recorded)  # type: ignore[arg-type]
    assert [i.nodeid for i in items] == ["tests/z.py::t", "tests/z.py::u", "tests/a.py::t"]
