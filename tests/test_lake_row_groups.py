"""Every write of the lake caps a data file's Parquet row groups at `ROW_GROUP_ROWS` rows
(issue 15: with delta-rs' default of 1,048,576, each 20,000-customer range of the engagement
build decoded its neighbours' rows too): create with rows, overwrite, append, the appender,
MERGE and DELETE (which rewrite the files they touch) and OPTIMIZE (compaction and Z-order).
Real Delta tables; the row groups read from the files' footers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from lakehouse_ml.lake import Lake
from lakehouse_ml.lake.tables import ROW_GROUP_ROWS

SCHEMA = pl.Schema({"k": pl.Int64, "v": pl.Int64})
ROWS = 2 * ROW_GROUP_ROWS + 7


def _rows(start: int = 0, count: int = ROWS) -> pl.DataFrame:
    keys = pl.int_range(start, start + count, eager=True)
    return pl.DataFrame({"k": keys, "v": keys * 3})


def _groups(uri: str) -> list[int]:
    """Rows per row group of each live data file, over the table's files."""
    table = DeltaTable(uri)
    sizes = []
    for file in table.file_uris():
        meta = pq.read_metadata(file)
        sizes.extend(meta.row_group(i).num_rows for i in range(meta.num_row_groups))
    return sizes


def _overwrite(lake: Lake, uri: str) -> None:
    lake.overwrite(uri, _rows(), label="t")


def _append(lake: Lake, uri: str) -> None:
    lake.append(uri, _rows(), label="t")


def _appender(lake: Lake, uri: str) -> None:
    lake.appender(uri, label="t")(_rows())


def _merge(lake: Lake, uri: str) -> None:  # one key updated: the file holding it is rewritten
    lake.append(uri, _rows(), label="t")
    lake.merge(uri, pl.DataFrame({"k": [5], "v": [-1]}), label="t", keys=["k"])


def _delete(lake: Lake, uri: str) -> None:  # one row deleted: its file is rewritten
    lake.append(uri, _rows(), label="t")
    lake.delete(uri, '"k" = 5')


def _compact(lake: Lake, uri: str) -> None:  # small files compacted into one of ROWS rows
    for start in range(0, ROWS, ROWS // 4 + 1):
        lake.append(uri, _rows(start, min(ROWS // 4 + 1, ROWS - start)), label="t")
    lake.optimize(uri)


def _zorder(lake: Lake, uri: str) -> None:
    lake.append(uri, _rows(), label="t")
    lake.append(uri, _rows(ROWS), label="t")
    lake.optimize(uri, ["k"])


@pytest.mark.parametrize("write", [_overwrite, _append, _appender, _merge, _delete, _compact,
                                   _zorder])
def test_every_write_caps_row_groups(tmp_path: Path, write: Callable[[Lake, str], None]
                                     ) -> None:
    lake, uri = Lake(), str(tmp_path / "t")
    lake.create(uri, SCHEMA, name="t")
    write(lake, uri)
    groups = _groups(uri)
    assert sum(groups) >= ROWS - 1  # the rows are there (a DELETE took one)
    assert max(groups) <= ROW_GROUP_ROWS
    assert len(groups) >= 3  # ROWS need three groups at least
