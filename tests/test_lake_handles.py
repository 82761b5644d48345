"""`Lake.table` keeps the handle of a local table's latest version while no commit follows it
(a step reads the same tables several times between writes; each open replays the log), and
never serves a handle older than the table: after a write by this or another `Lake`, after
the table was deleted and created again at the same path with as many commits, after a
caller moved the handle to an older version; time travel and object stores get their own."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from lakehouse_ml.lake import Lake
from tests.test_mutants_lake import s3  # noqa: F401  (fixture: a minimal S3 on 127.0.0.1)

SCHEMA = pl.Schema({"a": pl.Int64})


def _rows(lake: Lake, uri: str) -> list[int]:
    return sorted(lake.read(uri)["a"])


def test_the_handle_is_kept_until_a_commit_follows_it(tmp_path: Path) -> None:
    lake, other, uri = Lake(), Lake(), str(tmp_path / "t")
    lake.create(uri, SCHEMA, name="t")
    lake.append(uri, pl.DataFrame({"a": [1]}), label="t")
    kept = lake.table(uri)
    assert other.table(uri) is kept and kept.version() == 1  # shared by every Lake
    frame = lake.scan(uri)
    other.append(uri, pl.DataFrame({"a": [2]}), label="t")
    assert lake.table(uri) is not kept and lake.table(uri).version() == 2
    assert _rows(lake, uri) == [1, 2]
    assert sorted(frame.collect()["a"]) == [1]  # a scan taken before the write: its version
    lake.delete(uri, "a = 1")
    assert _rows(lake, uri) == [2] and kept.version() == 1  # the kept handle was not written
    lake.overwrite(uri, pl.DataFrame({"a": [3]}), label="t")
    assert _rows(lake, uri) == [3]
    assert sorted(lake.read(uri, version=1)["a"]) == [1] and lake.table(uri).version() == 4


def test_a_table_created_again_at_the_same_path_is_not_the_kept_one(tmp_path: Path) -> None:
    lake, uri = Lake(), str(tmp_path / "t")
    for value in (1, 2, 3):  # each time as many commits as before
        shutil.rmtree(uri, ignore_errors=True)
        lake.create(uri, SCHEMA, name="t")
        lake.append(uri, pl.DataFrame({"a": [value]}), label="t")
        assert _rows(lake, uri) == [value]
        assert _rows(lake, uri) == [value]  # the second read from the kept handle


def test_a_handle_moved_to_an_older_version_is_not_served(tmp_path: Path) -> None:
    lake, uri = Lake(), str(tmp_path / "t")
    lake.create(uri, SCHEMA, name="t")
    lake.append(uri, pl.DataFrame({"a": [1]}), label="t")
    lake.table(uri).load_as_version(0)
    assert lake.table(uri).version() == 1 and _rows(lake, uri) == [1]


def test_an_object_store_table_is_opened_each_time(s3: dict[str, str]) -> None:  # noqa: F811
    lake, uri = Lake(s3), "s3://lake/h"
    lake.create(uri, SCHEMA, name="h")
    lake.append(uri, pl.DataFrame({"a": [1]}), label="h")
    assert lake.table(uri) is not lake.table(uri)
    lake.append(uri, pl.DataFrame({"a": [2]}), label="h")
    assert _rows(lake, uri) == [1, 2]


def test_a_write_follows_every_commit_made_since_the_lake_last_wrote(tmp_path: Path) -> None:
    """The handle a write leaves serves the next write only while its commit is the latest."""
    lake, uri = Lake(), str(tmp_path / "t")
    lake.create(uri, SCHEMA, name="t")
    assert lake.append(uri, pl.DataFrame({"a": [1]}), label="t") == 1
    assert lake.append(uri, pl.DataFrame({"a": [2]}), label="t") == 2  # the kept handle
    write_deltalake(uri, pa.table({"a": pa.array([3], pa.int64())}), mode="append")
    assert lake.append(uri, pl.DataFrame({"a": [4]}), label="t") == 4
    assert Lake().merge(uri, pl.DataFrame({"a": [4, 5]}), label="t", keys=["a"]
                        )["num_target_rows_inserted"] == 1
    assert lake.delete(uri, "a = 1")["num_deleted_rows"] == 1
    assert _rows(lake, uri) == [2, 3, 4, 5] and lake.version(uri) == 6
    assert lake.overwrite(uri, pl.DataFrame({"a": [6]}), label="t", predicate="a > 4") == 7
    assert _rows(lake, uri) == [2, 3, 4, 6]
    shutil.rmtree(uri)  # created again with as many commits: its own rows only
    lake.create(uri, SCHEMA, name="t")
    for value in range(6):
        lake.append(uri, pl.DataFrame({"a": [10 + value]}), label="t")
    assert lake.append(uri, pl.DataFrame({"a": [20]}), label="t") == 7
    assert _rows(lake, uri) == [10, 11, 12, 13, 14, 15, 20]


def test_exists_answers_as_delta_rs(tmp_path: Path) -> None:
    """A local log with a commit file is a table without asking delta-rs; anything else is
    left to delta-rs (a log with a checkpoint only, stray files, no log, no folder)."""
    lake = Lake()
    table, checkpointed = str(tmp_path / "t"), str(tmp_path / "c")
    for uri in (table, checkpointed):
        lake.create(uri, SCHEMA, name="t")
        lake.append(uri, pl.DataFrame({"a": [1]}), label="t")
    DeltaTable(checkpointed).create_checkpoint()
    for commit in Path(checkpointed, "_delta_log").glob("*.json"):
        commit.unlink()
    strays = tmp_path / "strays" / "_delta_log"
    strays.mkdir(parents=True)
    (strays / f"{1:020d}.json.tmp").write_text("{}")
    (tmp_path / "empty" / "_delta_log").mkdir(parents=True)
    cases = {table: True, checkpointed: True, str(strays.parent): False,
             str(tmp_path / "empty"): False, str(tmp_path / "missing"): False}
    for uri, expected in cases.items():
        assert lake.exists(uri) is DeltaTable.is_deltatable(uri) is expected, uri
