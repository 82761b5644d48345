"""Exact results of `lakehouse_ml.lake` (tables and schema) on real Delta tables, written for
the survivors and *no tests* mutants of the `lake` mutation group (bench/MUTATION.md, issue 8):
which data files a range of commits added and removed, reading those files, VACUUM, purging the
log, and the schema checks' edges."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest
from deltalake.exceptions import DeltaError

from lakehouse_ml.lake import Lake

SCHEMA = pl.Schema({"p": pl.String, "a": pl.Int64})


def _files(lake: Lake, uri: str, version: int) -> set[str]:
    """The data files of `version` as paths on disk."""
    return set(lake.table(uri, version).file_uris())


def _partitioned(tmp_path: Path) -> tuple[Lake, str]:
    """A table partitioned by `p`, whose value `a b` is a folder name Delta escapes twice."""
    lake, uri = Lake(), str(tmp_path / "t")
    lake.create(uri, SCHEMA, name="t", partition_by=["p"])
    return lake, uri


def test_changed_files_counts_each_data_change_after_the_version_once(tmp_path: Path) -> None:
    lake, uri = _partitioned(tmp_path)
    lake.append(uri, pl.DataFrame({"p": ["a b", "a b"], "a": [1, 2]}), label="t")  # v1
    (first,) = _files(lake, uri, 1)
    lake.append(uri, pl.DataFrame({"p": ["x"], "a": [3]}), label="t")  # v2
    (second,) = _files(lake, uri, 2) - _files(lake, uri, 1)
    lake.delete(uri, "a = 2")  # v3: rewrites `first` without the row a = 2
    (rewritten,) = _files(lake, uri, 3) - _files(lake, uri, 2)
    assert lake.changed_files(uri, 2) == ([rewritten], [first], 3)
    lake.append(uri, pl.DataFrame({"p": ["x"], "a": [4]}), label="t")  # v4
    (third,) = _files(lake, uri, 4) - _files(lake, uri, 3)
    # the latest commit is read too
    assert lake.changed_files(uri, 3) == ([third], [], 4)
    assert lake.changed_files(uri, 4) == ([], [], 4)

    compacted = lake.optimize(uri)  # v5: p=x's two files in one, the same rows
    assert compacted["numFilesRemoved"] == 2 and lake.version(uri) == 5
    assert all(Path(f).exists() for f in (first, second, rewritten, third))
    assert "%20" in first and " " not in first  # the folder is named `p=a%20b`
    # since v1: `first` was removed and its rows rewritten; the compaction changed no row
    assert lake.changed_files(uri, 1) == (sorted([second, rewritten, third]), [first], 5)
    # since v0: `first`, added and removed after it, cancels out
    assert lake.changed_files(uri, 0) == (sorted([second, rewritten, third]), [], 5)
    assert lake.changed_files(uri + "/", 0) == lake.changed_files(uri, 0)
    assert lake.changed_files(uri, 4) == ([], [], 5)
    assert lake.changed_files(uri, 5) == ([], [], 5)

    # the rows of the changed files, columns as asked, files in the order given
    assert lake.read_files([third, second], ["a"]).to_dict(as_series=False) == {"a": [4, 3]}
    assert lake.read_files([rewritten], ["a"]).to_dict(as_series=False) == {"a": [1]}


def test_damaged_files_of_a_version_without_files_is_empty(tmp_path: Path) -> None:
    lake, uri = _partitioned(tmp_path)
    lake.append(uri, pl.DataFrame({"p": ["x"], "a": [1]}), label="t")
    lake.vacuum(uri, 0, enforce_retention_duration=False)
    assert lake.damaged_files(uri, 0) == {}
    assert lake.damaged_files(uri, 1) == {}


def test_vacuum_deletes_only_unreferenced_files_and_refuses_a_short_window(
    tmp_path: Path,
) -> None:
    lake, uri = _partitioned(tmp_path)
    lake.append(uri, pl.DataFrame({"p": ["x"], "a": [1]}), label="t")
    (old,) = _files(lake, uri, 1)
    lake.overwrite(uri, pl.DataFrame({"p": ["x"], "a": [2]}), label="t")
    (current,) = _files(lake, uri, 2)

    with pytest.raises(DeltaError, match="minimum retention for vacuum"):
        lake.vacuum(uri, 0)
    assert lake.vacuum(uri, 168) == []
    assert Path(old).exists()
    assert lake.read(uri, 1)["a"].to_list() == [1]

    assert lake.vacuum(uri, 0, enforce_retention_duration=False) == [
        os.path.relpath(old, uri)]
    assert not Path(old).exists() and Path(current).exists()
    assert lake.read(uri)["a"].to_list() == [2]


def _log(uri: str) -> list[str]:
    return sorted(os.listdir(Path(uri) / "_delta_log"))


@pytest.mark.parametrize(("kept", "restored"), [
    (None, "interval 30 days"), ("interval 60 days", "interval 60 days")])
def test_purge_log_keeps_only_the_checkpoint_and_restores_the_retention(
    tmp_path: Path, kept: str | None, restored: str
) -> None:
    lake, uri = _partitioned(tmp_path)
    if kept:
        lake.table(uri).alter.set_table_properties({"delta.logRetentionDuration": kept})
    lake.append(uri, pl.DataFrame({"p": ["x"], "a": [1]}), label="t")
    lake.append(uri, pl.DataFrame({"p": ["y"], "a": [2]}), label="t")
    before = lake.version(uri)  # the retention set to 0 is the next commit, checkpointed
    assert lake.purge_log(uri) == before + 1
    assert lake.version(uri) == before + 2  # the retention restored
    assert _log(uri) == [f"{before + 1:020d}.checkpoint.parquet", f"{before + 1:020d}.json",
                         f"{before + 2:020d}.json", "_last_checkpoint"]
    config = lake.table(uri).metadata().configuration
    assert config == {"delta.logRetentionDuration": restored}
    assert [h["version"] for h in lake.history(uri)] == [before + 2, before + 1]
    with pytest.raises(DeltaError):
        lake.table(uri, before)
    assert sorted(lake.read(uri, before + 1)["a"].to_list()) == [1, 2]
