"""An inference log table from before `unmatched_rows` existed gains the column and takes
new rows (a server upgraded in place keeps logging)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.serving.inference_log import SCHEMA, InferenceLog


def test_a_table_without_the_new_column_is_evolved_and_written(tmp_path: Path) -> None:
    catalog = Catalog(str(tmp_path / "lakehouse"), "dev")
    before = pl.Schema({c: d for c, d in SCHEMA.items() if c != "unmatched_rows"})
    catalog.create_table("churn.inference_log", before, TableInfo(owner="tests"))
    log = InferenceLog(catalog, "churn.inference_log", "tests", flush_rows=10,
                       flush_seconds=60, buffer_bytes=2**20)
    try:
        log.record(request_id="r1", endpoint="e", requested_at=datetime.now(UTC),
                   status_code=200, latency_ms=1.0, caller="c", rows=2, as_of=None,
                   model_versions=[1, 1], request="{}", response="{}", unmatched_rows=[1])
    finally:
        log.close()
    assert catalog.schema("churn.inference_log") == SCHEMA
    assert catalog.read("churn.inference_log")["unmatched_rows"].to_list() == [[1]]
