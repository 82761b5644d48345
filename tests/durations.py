"""Run files slowest first, so the last minutes of `make test` are not one slow file on one
worker while the other idles.

`make test` runs with `--dist loadfile --no-loadscope-reorder`: pytest-xdist then hands files
to workers in collection order (by default it sorts them by their number of tests, which put
the slowest one-test files last). `tests/durations.json` holds each file's seconds from a
recorded run; files it does not know count as the median. Refresh it after a run with
`make test-durations` (it writes the JUnit XML and converts it with `python -m tests.durations`).
"""

from __future__ import annotations

import json
import statistics
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import pytest

RECORDED = Path(__file__).with_name("durations.json")


def file_seconds(junit_xml: Path) -> dict[str, float]:
    """Seconds per test file (`tests/x/test_y.py`) summed over its test cases in a JUnit XML
    report (pytest's `--junitxml`; class names are dotted module paths)."""
    seconds: dict[str, float] = defaultdict(float)
    for case in ET.parse(junit_xml).iter("testcase"):
        parts = case.get("classname", "").split(".")
        while parts and not parts[-1].startswith("test_"):  # a test class
            parts.pop()
        seconds["/".join(parts) + ".py"] += float(case.get("time", 0))
    return {name: round(value, 1) for name, value in sorted(seconds.items())}


def slowest_files_first(items: list[pytest.Item], recorded: dict[str, float]) -> None:
    """Reorder `items` in place: files by recorded seconds, descending (unknown files: the
    median), each file's tests kept in their order."""
    default = statistics.median(recorded.values()) if recorded else 0.0
    order = {path: i for i, path in enumerate(dict.fromkeys(i.nodeid.split("::")[0]
                                                            for i in items))}

    def key(item: pytest.Item) -> tuple[float, int]:
        path = item.nodeid.split("::")[0]
        return -recorded.get(path, default), order[path]

    items.sort(key=key)


if __name__ == "__main__":
    RECORDED.write_text(json.dumps(file_seconds(Path(sys.argv[1])), indent=0) + "\n")
