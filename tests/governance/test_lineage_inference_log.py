"""The serving inference log: each write names the model versions that scored its rows as
lineage sources (serving loads models outside `Catalog.check_model`), and it is written by the
shared `BackgroundFlusher` (what is left is written at interpreter exit; a failed write returns
False and keeps its rows)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.governance.lineage import MODEL, TABLE, TABLE_LINEAGE, flush_lineage
from lakehouse_ml.governance.lineage_query import UPSTREAM, Vertex, lineage
from lakehouse_ml.serving.inference_log import InferenceLog

TABLE_NAME = "churn.inference_log"
MODEL_NAME = "dev.churn.churn_clf"


def record(log: InferenceLog, versions: list[int] | None, status: int = 200,
           endpoint: str = "clf") -> None:
    log.record(request_id="r", endpoint=endpoint, requested_at=datetime.now(UTC),
               status_code=status, latency_ms=1.0, caller="c", rows=len(versions or ()),
               as_of=None, model_versions=versions, request="{}", response="{}",
               unmatched_rows=None)


def open_log(catalog: Catalog, **models: str) -> InferenceLog:
    return InferenceLog(catalog, TABLE_NAME, "tests", flush_rows=1000, flush_seconds=3600,
                        buffer_bytes=2**20, models=models)


def test_each_write_names_the_model_versions_of_its_rows(tmp_path: Path) -> None:
    catalog = Catalog(str(tmp_path / "lakehouse"), "dev")
    log = open_log(catalog, clf=MODEL_NAME)
    try:
        record(log, [1, 1])
        record(log, [2])
        record(log, None, status=401)  # refused: scored by nothing
        record(log, [7], endpoint="unknown")  # an endpoint the log was not told of
        assert log.flush()
        first = catalog.version(TABLE_NAME)
        record(log, [2])
        assert log.flush()
    finally:
        log.close()
    flush_lineage(catalog.root, "dev")
    rows = Catalog(catalog.root, "dev", governed=False).read(TABLE_LINEAGE)
    models = rows.filter(pl.col("source_type") == MODEL)
    written = models.filter(pl.col("target_table_full_name") == f"dev.{TABLE_NAME}")
    assert set(written["source_table_full_name"]) == {MODEL_NAME}
    assert set(written.filter(pl.col("target_table_version") == first)
               ["source_table_version"]) == {1, 2}
    assert set(written["target_table_version"]) == {first, first + 1}
    reads = models.filter(pl.col("target_type").is_null())  # once per version, not per row
    assert sorted(reads["source_table_version"]) == [1, 2]
    answer = lineage(catalog, TABLE_NAME, UPSTREAM)
    assert {v for v, _ in answer.vertices()} >= {Vertex(MODEL, MODEL_NAME)}
    assert answer.root == Vertex(TABLE, f"dev.{TABLE_NAME}")


EXIT_WITHOUT_CLOSE = """
import sys
from datetime import UTC, datetime
from lakehouse_ml.catalog import Catalog
from lakehouse_ml.serving.inference_log import InferenceLog

log = InferenceLog(Catalog(sys.argv[1], "dev"), "churn.inference_log", "tests",
                   flush_rows=1000, flush_seconds=3600, buffer_bytes=2**20)
log.record(request_id="left", endpoint="clf", requested_at=datetime.now(UTC),
           status_code=200, latency_ms=1.0, caller="c", rows=1, as_of=None,
           model_versions=[1], request="{}", response="{}", unmatched_rows=None)
"""


def test_rows_still_buffered_at_exit_are_written(tmp_path: Path) -> None:
    """A process that never calls `close` (e.g. a script, or a server stopped by an
    exception) still writes its buffer, from the flusher's exit hook."""
    root = str(tmp_path / "lakehouse")
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(EXIT_WITHOUT_CLOSE), root],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    frame = Catalog(root, "dev", governed=False).read(TABLE_NAME)
    assert frame["request_id"].to_list() == ["left"]


def test_a_failed_write_returns_false_keeps_its_rows_and_close_writes_them_once(
        tmp_path: Path) -> None:
    catalog = Catalog(str(tmp_path / "lakehouse"), "dev")
    log = open_log(catalog)
    location = Path(catalog.location(TABLE_NAME).removeprefix("file://"))
    aside = tmp_path / "aside"
    try:
        record(log, [1])
        shutil.move(location, aside)
        location.write_text("not a table")  # the table cannot be written now
        assert log.flush() is False
        assert log.describe()["buffered_rows"] == 1
        location.unlink()
        shutil.move(aside, location)
    finally:
        log.close()
    log.close()  # a second close writes nothing twice
    assert catalog.read(TABLE_NAME).height == 1
