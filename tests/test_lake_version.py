"""`Lake.version` reads the latest version off the table's log listing (issue 15: opening a
table replays its commits, ~50 times per one-day refresh): the same version delta-rs gives
after writes, after the log was purged to a checkpoint, beside files of the log that are not
commits, on an object store, and no version for a location without a table."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable

from lakehouse_ml.lake import Lake
from tests.test_mutants_lake import s3  # noqa: F401  (fixture: a minimal S3 on 127.0.0.1)

SCHEMA = pl.Schema({"p": pl.String, "a": pl.Int64})


def _writes(lake: Lake, uri: str, count: int) -> None:
    for i in range(count):
        lake.append(uri, pl.DataFrame({"p": ["x"], "a": [i]}), label="t")


def test_the_version_is_the_latest_commit_after_writes_and_a_purged_log(tmp_path: Path
                                                                        ) -> None:
    lake, uri = Lake(), str(tmp_path / "t")
    lake.create(uri, SCHEMA, name="t")
    assert lake.version(uri) == 0
    _writes(lake, uri, 12)
    assert lake.version(uri) == DeltaTable(uri).version() == 12
    purged = lake.purge_log(uri)  # checkpoint, earlier commits deleted, two property commits
    log = Path(uri, "_delta_log")
    assert not (log / f"{0:020d}.json").exists()
    assert lake.version(uri) == DeltaTable(uri).version() == purged + 1
    for stray in (f"{99:020d}.json.tmp", f"_commit_{99:020d}.json", f"{99:020d}.crc",
                  f"{99:020d}.checkpoint.parquet"):
        (log / stray).write_text("not a commit")
    assert lake.version(uri) == purged + 1


def test_no_table_has_no_version(tmp_path: Path) -> None:
    lake = Lake()
    for uri in (tmp_path / "missing", tmp_path / "empty"):
        if uri.name == "empty":
            (uri / "_delta_log").mkdir(parents=True)
        with pytest.raises(FileNotFoundError, match=f"^no Delta table at {uri}$"):
            lake.version(str(uri))


def test_the_version_on_an_object_store(s3: dict[str, str]) -> None:  # noqa: F811
    lake, uri = Lake(s3), "s3://lake/v"
    with pytest.raises(FileNotFoundError, match="^no Delta table at s3://lake/v$"):
        lake.version(uri)
    lake.create(uri, SCHEMA, name="t")
    _writes(lake, uri, 3)
    assert lake.version(uri) == DeltaTable(uri, storage_options=s3).version() == 3
