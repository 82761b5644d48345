"""Schema evolution never stores a column Delta cannot fill later (`void`), and datetimes of
any unit or time zone are written as the instants Delta stores (microseconds, UTC)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.lake import Lake, SchemaMismatchError

STORED = pl.Datetime("us", "UTC")


def _table(tmp_path: Path) -> tuple[Lake, str]:
    lake, uri = Lake(), str(tmp_path / "t")
    lake.create(uri, pl.Schema({"k": pl.Int64, "v": pl.Float64}), name="t")
    lake.append(uri, pl.DataFrame({"k": [1], "v": [1.0]}), label="t")
    return lake, uri


@pytest.mark.parametrize("untyped", [pl.lit(None), pl.lit([None]), pl.struct(a=pl.lit(None))])
def test_all_null_new_column_is_refused_not_stored_as_void(
    tmp_path: Path, untyped: pl.Expr
) -> None:
    lake, uri = _table(tmp_path)
    frame = pl.DataFrame({"k": [2], "v": [2.0]}).with_columns(untyped.alias("extra"))
    with pytest.raises(SchemaMismatchError, match=r"table t: new column\(s\) \['extra'\] have no "
                       r"type .*cast them"):
        lake.append(uri, frame, label="t", evolve=True)
    assert lake.schema(uri) == pl.Schema({"k": pl.Int64, "v": pl.Float64})
    # once typed, the column is added and takes values
    lake.append(uri, frame.with_columns(pl.lit(5.5).alias("extra")), label="t", evolve=True)
    assert lake.read(uri).sort("k").rows() == [(1, 1.0, None), (2, 2.0, 5.5)]


def test_all_null_values_for_an_existing_column_still_write(tmp_path: Path) -> None:
    lake, uri = _table(tmp_path)
    lake.append(uri, pl.DataFrame({"k": [2], "v": [None]}), label="t")
    assert lake.read(uri).sort("k")["v"].to_list() == [1.0, None]


def test_create_refuses_an_untyped_column_and_leaves_no_table(tmp_path: Path) -> None:
    lake, uri = Lake(), str(tmp_path / "t")
    with pytest.raises(SchemaMismatchError, match=r"\['extra'\]"):
        lake.create(uri, pl.Schema({"k": pl.Int64, "extra": pl.Null}), name="t")
    assert not lake.exists(uri)


def test_datetimes_of_any_unit_and_zone_are_stored_as_utc_microseconds(tmp_path: Path) -> None:
    lake, uri = Lake(), str(tmp_path / "t")
    lake.create(uri, pl.Schema({"k": pl.Int64, "at": pl.Datetime("ns", "Europe/Berlin")}),
                name="t")
    assert lake.schema(uri) == pl.Schema({"k": pl.Int64, "at": STORED})
    berlin = pl.DataFrame({"k": [1], "at": [datetime(2025, 5, 1, 9)]}).with_columns(
        pl.col("at").dt.replace_time_zone("Europe/Berlin"))
    nanos = pl.DataFrame({"k": [2], "at": [datetime(2025, 5, 1, 9, tzinfo=UTC)],
                          "new_at": [datetime(2025, 5, 2, tzinfo=UTC)]},
                         schema_overrides={"at": pl.Datetime("ns", "UTC"),
                                           "new_at": pl.Datetime("ns", "Asia/Tokyo")})
    lake.append(uri, berlin, label="t")
    lake.append(uri, nanos, label="t", evolve=True)
    stored = lake.read(uri).sort("k")
    assert stored.schema == pl.Schema({"k": pl.Int64, "at": STORED, "new_at": STORED})
    assert stored.rows() == [(1, datetime(2025, 5, 1, 7, tzinfo=UTC), None),
                             (2, datetime(2025, 5, 1, 9, tzinfo=UTC),
                              datetime(2025, 5, 2, tzinfo=UTC))]
    naive = pl.DataFrame({"k": [3], "at": [datetime(2025, 5, 1)]})
    with pytest.raises(SchemaMismatchError, match="column 'at' has type Datetime"):
        lake.append(uri, naive, label="t")


def test_feature_table_from_pandas_ns_and_non_utc_columns(settings: object) -> None:
    fe = FeatureEngineeringClient()
    frame = pd.DataFrame({
        "customer_id": [1, 2],
        "feature_ts": pd.to_datetime(["2026-01-01T00:00:00Z"] * 2).astype("datetime64[ns, UTC]"),
        "last_login_at": pd.to_datetime(["2025-12-31T09:00:00Z", "2025-12-30T09:00:00Z"])
        .tz_convert("Europe/Berlin").astype("datetime64[ns, Europe/Berlin]"),
        "score": [0.5, 0.7],
    })
    fe.create_table("gold.ns_features", primary_keys=["customer_id"],
                    timeseries_column="feature_ts", df=frame)
    stored = fe.read_table("gold.ns_features").sort("customer_id")
    assert stored.schema["last_login_at"] == STORED
    assert stored["last_login_at"].to_list() == [datetime(2025, 12, 31, 9, tzinfo=UTC),
                                                 datetime(2025, 12, 30, 9, tzinfo=UTC)]
