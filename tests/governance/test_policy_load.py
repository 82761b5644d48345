"""`policy.load` parses a policy text once per process (domain discovery loads every policy
file on each call): what it returns is still the file as it is now, and the caller's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse_ml.governance.policy import PolicyError, load

TEXT = "owners:\n  - securable: SCHEMA dev.sales\n    principal: team:sales\n"


def test_load_reads_the_file_as_it_is_now_and_hands_out_its_own_copy(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(TEXT)
    first = load(path)
    first["owners"][0]["principal"] = "someone:else"
    first["grants"] = []
    assert load(path) == {"owners": [{"securable": "SCHEMA dev.sales",
                                      "principal": "team:sales"}]}
    path.write_text(TEXT.replace("team:sales", "team:ops"))
    assert load(path)["owners"][0]["principal"] == "team:ops"
    path.write_text("owners: [unclosed\n")
    for _ in range(2):  # a parse error is raised each time, never remembered as a document
        with pytest.raises(PolicyError, match="cannot read the policy"):
            load(path)
    path.write_text(TEXT)
    assert load(path)["owners"][0]["principal"] == "team:sales"
