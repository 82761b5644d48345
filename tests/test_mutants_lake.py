"""Exact results of `lakehouse_ml.lake` (tables and schema) on real Delta tables, written for
the survivors and *no tests* mutants of the `lake` mutation group (bench/MUTATION.md, issue 8):
which data files a range of commits added and removed, reading those files, VACUUM, purging the
log, and the schema checks' edges; a partition column's range and the values a predicate
matches, from the log and DataFusion; table properties set and compared."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from deltalake.exceptions import DeltaError

from lakehouse_ml.lake import Lake, SchemaMismatchError
from lakehouse_ml.lake.schema import conform, storable
from tests import s3_server

SCHEMA = pl.Schema({"p": pl.String, "a": pl.Int64})


def _files(lake: Lake, uri: str, version: int) -> set[str]:
    """The data files of `version` as paths on disk."""
    return set(lake.table(uri, version).file_uris())


def _partitioned(tmp_path: Path) -> tuple[Lake, str]:
    """A table partitioned by `p`, whose value `a b` is a folder name Delta escapes twice (its
    name ends in X: the root is cut at its last `/` only)."""
    lake, uri = Lake(), str(tmp_path / "TAX")
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
    (compacted_file,) = _files(lake, uri, 5) - _files(lake, uri, 4)
    assert all(Path(f).exists() for f in (first, second, rewritten, third))
    assert "%20" in first and " " not in first  # the folder is named `p=a%20b`
    # since v1: `first` was removed and its rows rewritten; the compaction changed no row
    assert lake.changed_files(uri, 1) == (sorted([second, rewritten, third]), [first], 5)
    # since v0: `first`, added and removed after it, cancels out
    assert lake.changed_files(uri, 0) == (sorted([second, rewritten, third]), [], 5)
    assert lake.changed_files(uri + "/", 0) == lake.changed_files(uri, 0)
    assert lake.damaged_files(uri + "/", 5) == lake.damaged_files(uri, 5) == {}
    Path(third).unlink()
    assert lake.damaged_files(uri + "/", 4) == lake.damaged_files(uri, 4) == {third: "deleted"}
    assert lake.changed_files(uri, 4) == ([], [], 5)
    assert lake.changed_files(uri, 5) == ([], [], 5)

    # the rows of the changed files, columns as asked, files in the order given
    assert lake.read_files([second, rewritten], ["a"]).to_dict(as_series=False) == {
        "a": [3, 1]}
    assert sorted(lake.read_files([compacted_file], ["a"])["a"]) == [3, 4]


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


# --- schema.py --------------------------------------------------------------------------------

def test_storable_stores_unsigned_as_signed_and_datetimes_at_microseconds() -> None:
    schema = pl.Schema({"u8": pl.UInt8, "u32": pl.UInt32, "u64": pl.UInt64, "i": pl.Int32,
                        "naive": pl.Datetime("ns"), "aware": pl.Datetime("ms", "Asia/Tokyo")})
    assert storable("t", schema) == pl.Schema({
        "u8": pl.Int16, "u32": pl.Int64, "u64": pl.Int64, "i": pl.Int32,
        "naive": pl.Datetime("us"), "aware": pl.Datetime("us", "UTC")})


def test_an_untyped_column_is_refused_naming_the_table(tmp_path: Path) -> None:
    with pytest.raises(SchemaMismatchError, match=r"^table t: new column\(s\) \['x'\]"):
        storable("t", pl.Schema({"k": pl.Int64, "x": pl.Null}))
    with pytest.raises(SchemaMismatchError, match=r"^table t: new column\(s\) \['x'\]"):
        Lake().create(str(tmp_path / "t"), pl.Schema({"k": pl.Int64, "x": pl.Null}), name="t")


TARGET = pl.Schema({"k": pl.Int64, "v": pl.Float64, "at": pl.Datetime("us", "UTC")})


def test_conform_refuses_a_new_column_unless_asked_to_evolve() -> None:
    frame = pl.DataFrame({"k": [1], "extra": [2]})
    with pytest.raises(SchemaMismatchError, match=r"^table t: column\(s\) \['extra'\] are not"):
        conform("t", frame, TARGET)


def test_conform_casts_new_and_existing_columns_in_any_order_and_fills_missing_typed() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    frame = pl.DataFrame({
        "new_u": pl.Series([7], dtype=pl.UInt32),
        "new_at": pl.Series([at], dtype=pl.Datetime("ns", "Europe/Berlin")),
        "new_f": [1.5],
        "v": pl.Series([2], dtype=pl.Int32),  # after the new columns: still cast
        "k": pl.Series([3], dtype=pl.Int8),
    })
    out = conform("t", frame, TARGET, evolve=True)
    assert out.schema == pl.Schema({
        "k": pl.Int64, "v": pl.Float64, "at": pl.Datetime("us", "UTC"), "new_u": pl.Int64,
        "new_at": pl.Datetime("us", "UTC"), "new_f": pl.Float64})
    assert out.rows() == [(3, 2.0, None, 7, at, 1.5)]


def test_a_type_change_after_a_new_column_is_refused_naming_the_column() -> None:
    frame = pl.DataFrame({"new": [1.0], "k": ["1"]})
    with pytest.raises(SchemaMismatchError, match=r"^table t: column 'k' has type String"):
        conform("t", frame, TARGET, evolve=True)


@pytest.mark.parametrize(("source", "target"), [
    (pl.Datetime("us", "UTC"), pl.Int64), (pl.Int64, pl.Datetime("us", "UTC")),
    (pl.Datetime("us"), pl.Datetime("us", "UTC")), (pl.Datetime("us", "UTC"), pl.Datetime("us"))])
def test_datetimes_and_other_types_never_mix(source: pl.DataType, target: pl.DataType) -> None:
    frame = pl.DataFrame({"c": pl.Series([None], dtype=pl.Int64).cast(source)})
    with pytest.raises(SchemaMismatchError, match=r"^table t: column 'c' has type "):
        conform("t", frame, pl.Schema({"c": target}))


# --- tables.py: create, read, history, writes' defaults ---------------------------------------

def test_create_records_name_description_comments_and_returns_version_0(tmp_path: Path) -> None:
    lake, uri = Lake(), str(tmp_path / "t")
    assert lake.create(uri, pl.Schema({"k": pl.Int64, "v": pl.Float64}), name="sales",
                       description="daily sales", column_comments={"v": "euros"}) == 0
    assert lake.version(uri) == 0
    dt = lake.table(uri)
    assert (dt.metadata().name, dt.metadata().description) == ("sales", "daily sales")
    assert [(f.name, f.metadata) for f in dt.schema().fields] == [
        ("k", {}), ("v", {"comment": "euros"})]
    with pytest.raises(DeltaError, match="already exists"):
        lake.create(uri, pl.Schema({"k": pl.Int64}), name="sales")
    assert lake.version(uri) == 0 and lake.schema(uri) == pl.Schema(
        {"k": pl.Int64, "v": pl.Float64})


def _three_versions(tmp_path: Path) -> tuple[Lake, str]:
    lake, uri = Lake(), str(tmp_path / "t")
    lake.create(uri, pl.Schema({"k": pl.Int64, "v": pl.Float64}), name="t")
    lake.append(uri, pl.DataFrame({"k": [1], "v": [1.0]}), label="t")
    lake.append(uri, pl.DataFrame({"k": [2], "v": [2.0]}), label="t")
    return lake, uri


def test_read_and_scan_travel_to_a_version_and_select_columns(tmp_path: Path) -> None:
    lake, uri = _three_versions(tmp_path)
    assert lake.read(uri, 1).rows() == [(1, 1.0)]
    assert lake.scan(uri, 1).collect().rows() == [(1, 1.0)]
    assert lake.read(uri, 2, columns=["v"]).sort("v").to_dict(as_series=False) == {
        "v": [1.0, 2.0]}
    assert lake.history(uri, 1)[0]["version"] == 2 and len(lake.history(uri, 1)) == 1
    files = sorted(lake.table(uri).file_uris())
    assert lake.read_files(files, ["v"]).sort("v").to_dict(as_series=False) == {
        "v": [1.0, 2.0]}
    assert [h["version"] for h in lake.history(uri)] == [2, 1, 0]


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone is Asia/Tokyo (UTC+9) during the test."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_naive_time_is_utc_and_an_aware_one_its_own_instant(
    tmp_path: Path, tokyo: None
) -> None:
    lake, uri = _three_versions(tmp_path)
    stamps = {h["version"]: h["timestamp"] for h in lake.history(uri)}
    committed = datetime.fromtimestamp(stamps[1] / 1000, UTC)
    assert committed < datetime.fromtimestamp(stamps[2] / 1000, UTC)
    assert lake.read(uri, committed.replace(tzinfo=None)).rows() == [(1, 1.0)]
    in_tokyo = committed.astimezone(ZoneInfo("Asia/Tokyo"))
    assert lake.read(uri, in_tokyo).rows() == [(1, 1.0)]


def _extra(k: int) -> pl.DataFrame:
    return pl.DataFrame({"k": [k], "v": [float(k)], "extra": ["x"]})


def test_every_write_refuses_a_new_column_unless_asked_naming_the_table(
    tmp_path: Path,
) -> None:
    lake, uri = _three_versions(tmp_path)
    refused = r"^table t: column\(s\) \['extra'\] are not in the table schema"
    for write in (lambda: lake.append(uri, _extra(3), label="t"),
                  lambda: lake.overwrite(uri, _extra(3), label="t"),
                  lambda: lake.merge(uri, _extra(3), label="t", keys=["k"]),
                  lambda: lake.appender(uri, label="t")(_extra(3))):
        with pytest.raises(SchemaMismatchError, match=refused):
            write()
    assert lake.version(uri) == 2 and lake.schema(uri) == pl.Schema(
        {"k": pl.Int64, "v": pl.Float64})


def test_overwrite_and_merge_evolve_the_schema_when_asked(tmp_path: Path) -> None:
    lake, uri = _three_versions(tmp_path)
    assert lake.overwrite(uri, _extra(1), label="t", evolve=True) == 3
    assert lake.read(uri).rows() == [(1, 1.0, "x")]
    metrics = lake.merge(uri, pl.DataFrame({"k": [1, 2], "v": [5.0, 2.0], "more": [True, False]}),
                         label="t", keys=["k"], evolve=True)
    assert (metrics["num_target_rows_updated"], metrics["num_target_rows_inserted"]) == (1, 1)
    assert lake.read(uri).sort("k").rows() == [(1, 5.0, None, True), (2, 2.0, None, False)]


def test_merge_matches_only_rows_where_the_target_filter_holds(tmp_path: Path) -> None:
    lake, uri = Lake(), str(tmp_path / "t")
    lake.create(uri, pl.Schema({"k": pl.Int64, "p": pl.String, "v": pl.Float64}), name="t")
    lake.append(uri, pl.DataFrame({"k": [1], "p": ["old"], "v": [1.0]}), label="t")
    lake.merge(uri, pl.DataFrame({"k": [1], "p": ["new"], "v": [2.0]}), label="t", keys=["k"],
               target_filter="t.p = 'new'")
    assert lake.read(uri).sort("p").rows() == [(1, "new", 2.0), (1, "old", 1.0)]


# --- tables.py on an object store: every operation uses the lake's storage options ------------

@pytest.fixture
def s3() -> Iterator[dict[str, str]]:
    """The storage options of a minimal S3 served on 127.0.0.1 (tests/s3_server.py)."""
    server = subprocess.Popen([sys.executable, str(Path(__file__).with_name("s3_server.py"))],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        yield s3_server.options(int(server.stdout.readline()))
    finally:
        server.kill()
        server.wait()


def test_a_table_on_an_object_store_is_read_and_written_with_the_storage_options(
    s3: dict[str, str],
) -> None:
    lake, uri = Lake(s3), "s3://lake/t"
    assert not lake.exists(uri)
    with pytest.raises(FileNotFoundError, match="^no Delta table at s3://lake/t$"):
        lake.table(uri)
    assert lake.create(uri, SCHEMA, name="t", partition_by=["p"]) == 0
    assert lake.exists(uri) and lake.schema(uri) == SCHEMA
    lake.append(uri, pl.DataFrame({"p": ["a b", "a b"], "a": [1, 2]}), label="t")
    (first,) = _files(lake, uri, 1)
    lake.delete(uri, "a = 2")
    (rewritten,) = _files(lake, uri, 2)
    assert first.startswith(f"{uri}/p=a%20b/") and rewritten.startswith(f"{uri}/p=a%20b/")

    assert lake.changed_files(uri, 0) == ([rewritten], [], 2)
    assert lake.changed_files(uri, 1) == ([rewritten], [first], 2)
    assert lake.read_files([first, rewritten], ["a"])["a"].to_list() == [1, 2, 1]
    assert lake.damaged_files(uri, 1) == {}
    assert lake.vacuum(uri, 0, enforce_retention_duration=False) == [
        first.removeprefix(f"{uri}/")]
    assert lake.damaged_files(uri, 1) == {first: "deleted"}
    assert lake.read(uri).rows() == [("a b", 1)]


def test_partition_range_reads_the_least_and_greatest_partition_value_from_the_log(
        tmp_path: Path) -> None:
    lake, uri = _partitioned(tmp_path)
    assert lake.partition_columns(uri) == ["p"]
    assert lake.partition_range(uri, "p") is None  # no file yet
    with pytest.raises(ValueError, match=r"TAX is not partitioned by 'a'"):
        lake.partition_range(uri, "a")
    lake.append(uri, pl.DataFrame({"p": ["m", "c", "x"], "a": [1, 2, 3]}), label="t")
    assert lake.partition_range(uri, "p") == ("c", "x")
    lake.delete(uri, "p = 'x'")
    assert lake.partition_range(uri, "p") == ("c", "m")  # live files only
    nulls, other = Lake(), str(tmp_path / "n")
    nulls.create(other, SCHEMA, name="n", partition_by=["p"])
    nulls.append(other, pl.DataFrame({"p": [None], "a": [1]}, schema=SCHEMA), label="n")
    assert nulls.partition_range(other, "p") is None  # files, but no value


def test_values_where_returns_the_distinct_values_of_the_rows_a_predicate_matches(
        tmp_path: Path) -> None:
    lake, uri = _partitioned(tmp_path)
    lake.append(uri, pl.DataFrame({"p": ["a b", "c", "c"], "a": [1, 2, 2]}), label="t")
    assert sorted(lake.values_where(uri, "p", None)) == ["a b", "c"]
    assert lake.values_where(uri, "a", "p = 'c'") == [2]
    assert lake.values_where(uri, "p", "a > 5") == []


def test_set_properties_commits_them_and_the_next_write_follows_the_table(
        tmp_path: Path) -> None:
    lake, uri = Lake(), str(tmp_path / "t")
    lake.create(uri, SCHEMA, name="t")
    assert lake.set_properties(uri, {"delta.appendOnly": "true"}) == 1
    assert lake.table(uri).metadata().configuration["delta.appendOnly"] == "true"
    wanted = {"delta.appendOnly": "true", "delta.logRetentionDuration": "interval 2 days"}
    assert lake.missing_properties(uri, wanted) == {
        "delta.logRetentionDuration": "interval 2 days"}
    assert lake.missing_properties(uri, {"delta.appendOnly": "false"}) == {
        "delta.appendOnly": "false"}
    assert lake.append(uri, pl.DataFrame({"p": ["x"], "a": [1]}), label="t") == 2
    with pytest.raises(DeltaError):  # an append-only table refuses a delete
        lake.delete(uri, "a = 1")
    created = str(tmp_path / "c")  # properties given at creation are its metadata's
    lake.create(created, SCHEMA, name="c", properties={"delta.appendOnly": "true"})
    assert lake.missing_properties(created, {"delta.appendOnly": "true"}) == {}


def _zero(file: str) -> None:
    """Overwrite the file in place with as many zero bytes: its size stays as committed."""
    size = os.path.getsize(file)
    with open(file, "r+b") as handle:
        handle.write(b"\0" * size)


def test_footers_name_an_unreadable_file_and_a_row_count_the_log_does_not_record(
        tmp_path: Path) -> None:
    """With `footers`, a file of the committed size that is not Parquet, and one whose rows
    are not the commit's `numRecords` (the commit edited in place: same inode, size and
    modification time, so only its content tells the cached handle of the latest version
    apart)."""
    lake, uri = Lake(), str(tmp_path / "t")
    lake.create(uri, SCHEMA, name="t")
    lake.append(uri, pl.DataFrame({"p": ["x", "y", "z"], "a": [1, 2, 3]}), label="t")
    (file,) = lake.table(uri).file_uris()
    assert lake.damaged_files(uri, None, footers=True) == {}
    commit = tmp_path / "t" / "_delta_log" / f"{1:020d}.json"
    held = os.stat(commit)
    text = commit.read_bytes()
    assert text.count(b'\\"numRecords\\":3') == 1
    with open(commit, "r+b") as handle:
        handle.write(text.replace(b'\\"numRecords\\":3', b'\\"numRecords\\":4'))
    os.utime(commit, ns=(held.st_atime_ns, held.st_mtime_ns))
    assert lake.damaged_files(uri, None) == {}  # sizes only
    assert lake.damaged_files(uri, None, footers=True) == {file: "3 rows, the log records 4"}
    _zero(file)
    (reason,) = lake.damaged_files(uri, 1, footers=True).values()
    assert reason.startswith("not a Parquet file: ")


def test_footers_name_every_unreadable_file(tmp_path: Path) -> None:
    lake, uri = Lake(), str(tmp_path / "t")
    lake.create(uri, SCHEMA, name="t")
    for value in (1, 2):
        lake.append(uri, pl.DataFrame({"p": ["x"], "a": [value]}), label="t")
    files = lake.table(uri).file_uris()
    for file in files:
        _zero(file)
    damaged = lake.damaged_files(uri, None, footers=True)
    assert sorted(damaged) == sorted(files)
    assert all(reason.startswith("not a Parquet file: ") for reason in damaged.values())
