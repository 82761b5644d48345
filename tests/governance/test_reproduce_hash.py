"""The training set's content hash: stable under representation changes, sensitive to values;
and `Lake.damaged_files`, which says when VACUUM took a version's files or one was rewritten."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from lakehouse_ml.governance.reproduce_hash import TrainingSetDigest
from lakehouse_ml.lake import Lake

FRAME = pl.DataFrame({
    "customer_id": [1, 2, None],
    "plan": ["basic", None, "pro"],
    "label_time": [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 3)],
    "spend": [0.0, float("nan"), None],
    "churned": [True, False, None],
    "tags": [[1], [2, 3], None],
})


def changed_columns(other: pl.DataFrame) -> list[str]:
    before, after = TrainingSetDigest.of(FRAME), TrainingSetDigest.of(other)
    assert (before.sha256 == after.sha256) == (before.columns == after.columns)
    return [c for c in before.columns if after.columns.get(c) != before.columns[c]]


@pytest.mark.parametrize("same", [
    FRAME.reverse(),
    FRAME.select(reversed(FRAME.columns)),
    FRAME.with_columns(pl.col("customer_id").cast(pl.UInt32), pl.col("plan").cast(pl.Categorical)),
    FRAME.with_columns(pl.col("label_time").dt.convert_time_zone("Europe/Berlin")
                       .dt.cast_time_unit("ns")),
    FRAME.with_columns(pl.col("spend") * -1),  # -0.0 and a NaN with its sign bit set
    pl.concat([FRAME.head(1), FRAME.tail(2)], rechunk=False),
], ids=["rows reordered", "columns reordered", "integer and string types", "time zone and unit",
        "signed zero and NaN", "chunks"])
def test_hash_ignores_representation(same: pl.DataFrame) -> None:
    assert changed_columns(same) == []


@pytest.mark.parametrize(("other", "column"), [
    (FRAME.with_columns(pl.Series("plan", ["basic", None, "prp"])), "plan"),
    (FRAME.with_columns(pl.Series("spend", [0.0, None, None])), "spend"),  # NaN is not null
    (FRAME.with_columns(pl.Series("plan", ["basic", "", "pro"])), "plan"),  # "" is not null
    (FRAME.with_columns(pl.col("label_time") + pl.duration(microseconds=1)), "label_time"),
    (FRAME.with_columns(pl.Series("tags", [[1], [3, 2], None])), "tags"),
    (FRAME.with_columns(pl.col("customer_id").cast(pl.Float64)), "customer_id"),
])
def test_hash_names_the_changed_column(other: pl.DataFrame, column: str) -> None:
    assert changed_columns(other) == [column]


def test_a_row_more_or_less_changes_every_column() -> None:
    assert changed_columns(pl.concat([FRAME, FRAME.head(1)])) == sorted(FRAME.columns)
    assert TrainingSetDigest.of(FRAME.head(2)).rows == 2


def test_values_swapped_between_rows_change_the_hash_not_the_columns() -> None:
    swapped = FRAME.with_columns(pl.Series("plan", ["pro", None, "basic"]))
    before, after = TrainingSetDigest.of(FRAME), TrainingSetDigest.of(swapped)
    assert after.sha256 != before.sha256 and after.columns == before.columns


def test_damaged_files_names_what_vacuum_deleted_or_a_rewrite_changed(tmp_path: Path) -> None:
    lake, uri = Lake(), str(tmp_path / "t")
    lake.create(uri, pl.Schema({"a": pl.Int64}), name="t")
    lake.append(uri, pl.DataFrame({"a": [1]}), label="t")
    lake.overwrite(uri, pl.DataFrame({"a": list(range(100))}), label="t")
    assert lake.damaged_files(uri, 1) == {} and lake.damaged_files(uri, 2) == {}

    (deleted,) = lake.vacuum(uri, 0, enforce_retention_duration=False)
    (current,) = lake.table(uri).file_uris()
    size = Path(current).stat().st_size
    pl.DataFrame({"a": [7]}).write_parquet(current)  # same name, other rows

    assert {Path(f).name: why for f, why in lake.damaged_files(uri, 1).items()} == {
        Path(deleted).name: "deleted"}
    (why,) = lake.damaged_files(uri, 2).values()
    assert why == f"{Path(current).stat().st_size} bytes, the log records {size}"
