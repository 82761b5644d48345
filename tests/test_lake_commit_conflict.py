"""A write that another writer's commit beat (Delta's CommitFailedError, stranger15 F5) is
re-raised naming the table and saying to rerun the step, chained to Delta's error, and still a
CommitFailedError (bronze's ingest retries those). Two real writers on a real Delta table: a
second process commits to it in a loop while this one writes; each kind of write is tried
until the other's commit beats it (usually the first try; bounded in time)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest
from deltalake.exceptions import CommitFailedError

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.catalog.registry import TableInfo
from lakehouse_ml.lake.tables import WriteConflict

TABLE = "gold.daily_activity"
ROWS = pl.DataFrame({"k": list(range(100_000)), "v": [1.0] * 100_000})
OTHER_WRITER = """
import sys, time
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
uri, mode, stop = sys.argv[1], sys.argv[2], sys.argv[3]
dt = DeltaTable(uri)
def rows(k):
    return pa.table({"k": pa.array([k] * 10, pa.int64()), "v": pa.array([2.0] * 10)})
end = time.monotonic() + 120
while time.monotonic() < end:
    try:
        open(stop).close()
        break
    except FileNotFoundError:
        pass
    try:
        dt.update_incremental()
        if mode == "append":
            write_deltalake(dt, rows(5), mode="append")
        else:  # rows of its own, then deleted: a delete that commits every time
            write_deltalake(dt, rows(7), mode="append")
            dt.delete("k = 7")
    except Exception:  # beaten by the test's own write: go on
        pass
"""


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    catalog = Catalog(str(tmp_path / "lakehouse"), "dev")
    catalog.create_table(TABLE, ROWS.schema, TableInfo(owner="team:ml", comment="activity"))
    catalog.append(TABLE, ROWS)
    return catalog


@contextmanager
def _other_writer(catalog: Catalog, tmp_path: Path, mode: str) -> Iterator[None]:
    stop = tmp_path / f"stop-{mode}"
    process = subprocess.Popen([sys.executable, "-c", OTHER_WRITER,
                                catalog.location(TABLE), mode, str(stop)])
    try:
        yield
    finally:
        stop.touch()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _beaten(write: Callable[[], object], seconds: float = 60) -> WriteConflict:
    """The WriteConflict `write` raises once another writer's commit beats it."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            write()
        except WriteConflict as error:
            return error
    raise AssertionError(f"no write beaten in {seconds} s")


WRITES: dict[str, tuple[str, Callable[[Catalog], Callable[[], object]]]] = {
    # the other process appends rows these writes read: "a concurrent transaction added data"
    "overwrite": ("append", lambda c: lambda: c.overwrite(TABLE, ROWS, predicate="k >= 0")),
    "merge": ("append", lambda c: lambda: c.merge(TABLE, ROWS.head(1000), keys=["k"])),
    "delete": ("append", lambda c: lambda: c.delete(TABLE, "k = 5")),
    # the other process deletes rows of its own while an appender's append (of many rows: a
    # window long enough; none it deletes, so that its deletes commit) is written: "a
    # concurrent transaction deleted data this operation read"
    "appender": ("delete", lambda c: (lambda append: lambda: append(
        ROWS.with_columns(pl.col("k") + 1000)))(c.appender(TABLE))),
}


@pytest.mark.parametrize("kind", sorted(WRITES))
def test_a_write_another_writer_beat_names_the_table_and_says_rerun(
        catalog: Catalog, tmp_path: Path, kind: str) -> None:
    mode, make = WRITES[kind]
    write = make(catalog)
    with _other_writer(catalog, tmp_path, mode):
        time.sleep(0.5)  # the other process has opened the table and is committing
        error = _beaten(write)
    message, full = str(error), str(catalog.name(TABLE))  # dev.gold.daily_activity
    assert message.startswith(f"table {full}: another writer committed to it first"), message
    assert "rerun the step" in message
    assert isinstance(error, CommitFailedError)  # what bronze's ingest retries on
    cause = error.__cause__
    assert type(cause) is CommitFailedError and str(cause).split("\n")[0] in message
    # nothing of the beaten write is half done: the table reads, and a rerun succeeds
    catalog.read(TABLE)
    write()

