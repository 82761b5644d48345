"""Parquet row groups of the lake's writes (issue 15). An overwrite given `row_group_rows` (the
gold aggregates and the kept states, read one range of customers at a time) caps a file's row
groups at that many rows (`ROW_GROUP_ROWS`), with delta-rs' default codec restated (writer
properties without one write uncompressed files); every other write, OPTIMIZE included, keeps
delta-rs' defaults (1,048,576 rows; snappy, zstd for OPTIMIZE), and a cap that is not a
positive number fails before writing. Real Delta tables; row groups and codecs read from the
footers."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake

from lakehouse_ml.lake import ROW_GROUP_ROWS, Lake

SCHEMA = pl.Schema({"k": pl.Int64, "v": pl.Int64})
ROWS = 2 * ROW_GROUP_ROWS + 7


def _rows(start: int = 0, count: int = ROWS) -> pl.DataFrame:
    keys = pl.int_range(start, start + count, eager=True)
    return pl.DataFrame({"k": keys, "v": keys * 3})


def _footers(uri: str) -> list[pq.FileMetaData]:
    return [pq.read_metadata(file) for file in DeltaTable(uri).file_uris()]


def _groups(uri: str) -> list[int]:
    """Rows per row group, over the table's live data files."""
    return [meta.row_group(i).num_rows for meta in _footers(uri)
            for i in range(meta.num_row_groups)]


def _codecs(uri: str) -> set[str]:
    """The compression codecs of every column chunk of the table's live data files."""
    return {meta.row_group(i).column(j).compression for meta in _footers(uri)
            for i in range(meta.num_row_groups) for j in range(meta.num_columns)}


def _table(tmp_path: Path) -> tuple[Lake, str]:
    lake, uri = Lake(), str(tmp_path / "t")
    lake.create(uri, SCHEMA, name="t")
    return lake, uri


def test_an_overwrite_given_a_cap_writes_small_snappy_row_groups(tmp_path: Path) -> None:
    lake, uri = _table(tmp_path)
    lake.overwrite(uri, _rows(), label="t", row_group_rows=ROW_GROUP_ROWS)
    groups = _groups(uri)
    assert sum(groups) == ROWS and max(groups) <= ROW_GROUP_ROWS and len(groups) >= 3
    assert _codecs(uri) == {"SNAPPY"}
    lake.overwrite(uri, _rows(0, 10), label="t", predicate='"k" < 10', row_group_rows=1000)
    groups = _groups(uri)  # replaceWhere rewrites the touched file's other rows with the cap
    assert sum(groups) == ROWS and max(groups) == 1000


def test_optimize_keeps_delta_rs_default_row_groups(tmp_path: Path) -> None:
    """Z-order and compaction rewrite in delta-rs' default groups (zstd): small groups would
    make silver's text 39% bigger, and only the gold aggregates are read by ranges."""
    lake, uri = _table(tmp_path)
    for start in (0, ROWS):
        write_deltalake(uri, _rows(start).to_arrow(), mode="append")
    lake.optimize(uri, ["k"])
    assert _groups(uri) == [2 * ROWS] and _codecs(uri) == {"ZSTD"}
    other, compacted = Lake(), str(tmp_path / "c")
    other.create(compacted, SCHEMA, name="c")
    for start in range(0, ROWS, ROWS // 4 + 1):
        write_deltalake(compacted, _rows(start, min(ROWS // 4 + 1, ROWS - start)).to_arrow(),
                        mode="append")
    other.optimize(compacted)
    assert _groups(compacted) == [ROWS] and _codecs(compacted) == {"ZSTD"}


def test_other_writes_keep_delta_rs_defaults(tmp_path: Path) -> None:
    lake, uri = _table(tmp_path)
    lake.overwrite(uri, _rows(), label="t")
    assert _groups(uri) == [ROWS] and _codecs(uri) == {"SNAPPY"}
    lake.append(uri, _rows(ROWS), label="t")
    lake.merge(uri, pl.DataFrame({"k": [5], "v": [-1]}), label="t", keys=["k"])
    assert sorted(_groups(uri)) == [ROWS, ROWS] and _codecs(uri) == {"SNAPPY"}


@pytest.mark.parametrize("cap", [0, -5])
def test_a_cap_that_is_not_a_positive_number_fails_before_writing(tmp_path: Path, cap: int) -> None:
    lake, uri = _table(tmp_path)
    with pytest.raises(ValueError, match=rf"row_group_rows must be a positive .* not {cap}"):
        lake.overwrite(uri, _rows(0, 3), label="t", row_group_rows=cap)
    assert DeltaTable(uri).version() == 0


def test_the_smallest_cap_is_one_row_a_group(tmp_path: Path) -> None:
    lake, uri = _table(tmp_path)
    lake.overwrite(uri, _rows(0, 3), label="t", row_group_rows=1)
    assert _groups(uri) == [1, 1, 1]
