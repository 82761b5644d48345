"""Markdown tables (Dagster previews, model cards) rendered without touching the process
environment: `polars.Config` sets environment variables, and `setenv` racing the audit
writer's Delta commit in another thread crashed a pipeline test with a segmentation fault."""

from __future__ import annotations

import os

import polars as pl
import pytest

from lakehouse_ml.defs.factories.metadata import markdown
from lakehouse_ml.markdown_table import markdown_table


def test_every_row_and_column_with_nulls_cuts_and_escapes() -> None:
    frame = pl.DataFrame({"id": [1, None], "note": ["a|b\\c\nd", "x" * 70],
                          "score": [0.12345, 2.0]})
    assert markdown_table(frame, max_chars=60, float_precision=3).splitlines() == [
        "| id | note | score |",
        "|---|---|---|",
        "| 1 | a\\|b\\\\c d | 0.123 |",
        "| null | " + "x" * 60 + "… | 2.000 |",
    ]
    assert markdown_table(frame.head(0)).splitlines() == ["| id | note | score |", "|---|---|---|"]


def test_a_preview_shows_its_first_rows_and_sets_no_environment_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(os, "putenv", lambda *args: calls.append(args))
    monkeypatch.setattr(os, "unsetenv", lambda *args: calls.append(args))
    frame = pl.DataFrame({"customer_id": list(range(8)), "plan": ["basic"] * 8})
    text = markdown(frame).value
    assert calls == []
    assert text.splitlines()[2:] == [f"| {i} | basic |" for i in range(5)]
