"""Feature tables: metadata, merge writes, schema evolution, duplicate refusal, time travel."""

from __future__ import annotations

import time

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from lakehouse_ml.catalog import TableInfo
from lakehouse_ml.features import (
    DuplicateKeyError,
    Feature,
    FeatureEngineeringClient,
    FeatureStoreError,
)

from .timeline import at, utc_frame


def spend_rows(keys, days, values) -> pl.DataFrame:
    return utc_frame({"cid": keys, "ts": [at(d) for d in days], "spend": values})


@pytest.fixture
def spend(fe):
    fe.create_table(
        "gold.spend", ["cid", "ts"], df=spend_rows([2, 1, 1], [0, 1, 0], [20.0, 11.0, 10.0]),
        timeseries_column="ts", description="spend per customer", tags={"domain": "churn"},
        feature_descriptions={"spend": "amount spent so far"},
    )
    return "gold.spend"


def test_get_table_reads_back_keys_features_and_version(fe, spend):
    table = fe.get_table(spend)
    assert table.name == "dev.gold.spend"
    assert table.primary_keys == ["cid", "ts"] and table.timeseries_column == "ts"
    assert table.entity_keys == ["cid"]
    assert table.features == [Feature("spend", pl.Float64(), "amount spent so far")]
    assert (table.description, table.tags) == ("spend per customer", {"domain": "churn"})
    assert table.version == fe.catalog.version(spend) == 1


def test_timeseries_column_may_be_left_out_of_primary_keys(fe):
    table = fe.create_table("gold.t", "cid", timeseries_column="ts", df=spend_rows([1], [0], [1.0]))
    assert table.primary_keys == ["cid", "ts"]
    with pytest.raises(FeatureStoreError, match="already exists"):
        fe.create_table("gold.t", "cid", df=spend_rows([1], [0], [1.0]))


def test_written_sorted_by_key_then_time(fe, spend):
    stored = fe.read_table(spend)
    assert stored["cid"].to_list() == [1, 1, 2]
    assert stored["ts"].to_list() == [at(0), at(1), at(0)]


def test_merge_upserts_on_key_and_time_and_adds_new_columns(fe, spend):
    update = spend_rows([1, 3], [1, 0], [99.0, 30.0]).with_columns(visits=pl.Series([7, 8]))
    version = fe.write_table(spend, update)
    assert version == 2
    stored = fe.read_table(spend).sort("cid", "ts")
    assert stored.rows() == [
        (1, at(0), 10.0, None), (1, at(1), 99.0, 7), (2, at(0), 20.0, None), (3, at(0), 30.0, 8)
    ]
    assert [f.name for f in fe.get_table(spend).features] == ["spend", "visits"]


def test_duplicate_key_and_time_in_one_write_is_refused_naming_keys(fe, spend):
    twice = spend_rows([5, 5, 6], [1, 1, 1], [1.0, 2.0, 3.0])
    with pytest.raises(DuplicateKeyError, match=r"\['cid', 'ts'\].*'cid': 5"):
        fe.write_table(spend, twice)
    assert fe.catalog.version(spend) == 1
    same_instant = spend_rows([5, 5], [1, 1], [1.0, 2.0]).with_columns(
        pl.col("ts").dt.convert_time_zone("Asia/Tokyo").dt.cast_time_unit("ns")
        + pl.duration(nanoseconds=pl.Series([0, 1]))
    )
    with pytest.raises(DuplicateKeyError):
        fe.write_table(spend, same_instant)


def test_null_keys_and_missing_features_are_refused(fe, spend):
    with pytest.raises(FeatureStoreError, match=r"\['cid'\] have nulls"):
        fe.write_table(spend, spend_rows([None], [0], [1.0]))
    with pytest.raises(FeatureStoreError, match=r"\['spend'\] missing"):
        fe.write_table(spend, spend_rows([1], [0], [1.0]).drop("spend"))


def test_overwrite_replaces_the_table(fe, spend):
    fe.write_table(spend, spend_rows([4], [0], [4.0]), mode="overwrite")
    assert fe.read_table(spend)["cid"].to_list() == [4]


def test_read_table_time_travel_by_version_and_timestamp(fe, spend):
    first = fe.read_table(spend)
    created = fe.catalog.history(spend, 1)[0]["timestamp"]
    time.sleep(0.05)  # commit times have millisecond resolution: keep the versions apart
    fe.write_table(spend, spend_rows([9], [0], [9.0]))
    assert fe.read_table(spend).height == 4
    assert_frame_equal(fe.read_table(spend, as_of_version=1), first)
    as_of = pl.Series([created], dtype=pl.Int64).cast(pl.Datetime("ms", "UTC")).item()
    assert_frame_equal(fe.read_table(spend, as_of_timestamp=as_of), first)
    with pytest.raises(FeatureStoreError, match="not both"):
        fe.read_table(spend, as_of_version=1, as_of_timestamp=as_of)


def test_pandas_frames_are_accepted(fe, spend):
    fe.write_table(spend, spend_rows([7], [3], [7.0]).to_pandas())
    assert fe.read_table(spend).filter(pl.col("cid") == 7)["spend"].to_list() == [7.0]


def test_plain_tables_are_not_feature_tables(fe, catalog):
    catalog.create_table("gold.plain", pl.Schema({"a": pl.Int64}), TableInfo(owner="x"))
    with pytest.raises(FeatureStoreError, match="not a feature table"):
        fe.get_table("gold.plain")


def test_default_catalog_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_ROOT", str(tmp_path / "root"))
    monkeypatch.setenv("LAKEHOUSE_ENV", "staging")
    monkeypatch.delenv("REDIS_URL", raising=False)
    fe = FeatureEngineeringClient()
    table = fe.create_table("gold.env", "cid", df=pl.DataFrame({"cid": [1], "n": [2]}))
    assert table.name == "staging.gold.env"
    assert fe.catalog.location("gold.env") == f"{tmp_path}/root/staging/gold/env"
    assert fe.read_table("gold.env").rows() == [(1, 2)]
