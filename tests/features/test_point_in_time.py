"""Point-in-time lookups: each edge of the semantics, on real Delta tables."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from lakehouse_ml.features import (
    FeatureCollisionError,
    FeatureLookup,
    FeatureStoreError,
    KeyTypeError,
    TimestampError,
)

from .timeline import at, utc_frame

US = timedelta(microseconds=1)


@pytest.fixture
def spend(fe):
    """cid 1 changes at days 0, 2 and 5; cid 2 appears at day 1."""
    fe.create_table("gold.spend", "cid", timeseries_column="ts", df=utc_frame({
        "cid": [1, 1, 1, 2],
        "ts": [at(0), at(2), at(5), at(1)],
        "spend": [1.0, 2.0, 5.0, 100.0],
        "visits": [10, 20, 50, 1],
    }))
    return "gold.spend"


def joined(fe, labels: pl.DataFrame, *lookups: FeatureLookup) -> pl.DataFrame:
    return fe.create_training_set(labels, list(lookups), label=None).load_df()


def spend_at(fe, spend, keys, times, **options) -> list:
    labels = utc_frame({"cid": keys, "t": times})
    lookup = FeatureLookup(spend, "cid", "t", feature_names=["spend"], **options)
    return joined(fe, labels, lookup)["spend"].to_list()


def test_exact_timestamp_matches_and_one_microsecond_before_does_not(fe, spend):
    assert spend_at(fe, spend, [1, 1, 1], [at(2), at(2) - US, at(2) + US]) == [2.0, 1.0, 2.0]


def test_lookback_window_is_inclusive_and_expires_one_second_after(fe, spend):
    window = timedelta(days=1)
    values = spend_at(
        fe, spend, [1, 1, 1], [at(3), at(3, seconds=1), at(3) + US], lookback_window=window
    )
    assert values == [2.0, None, None]
    assert spend_at(fe, spend, [1], [at(3, seconds=1)]) == [2.0]


def test_before_first_row_and_unknown_keys_are_null(fe, spend):
    assert spend_at(fe, spend, [2, 9, 1], [at(0.5), at(9), at(-1)]) == [None, None, None]


def test_default_values_fill_every_null_of_that_feature(fe, spend):
    labels = utc_frame({"cid": [9, 2, 1, 1], "t": [at(9), at(0), at(4), at(2)]})
    lookup = FeatureLookup(
        spend, "cid", "t", lookback_window=timedelta(days=1), default_values={"spend": -1.0}
    )
    out = joined(fe, labels, lookup)
    assert out["spend"].to_list() == [-1.0, -1.0, -1.0, 2.0]
    assert out["visits"].to_list() == [None, None, None, 20]


def test_rows_come_back_one_for_one_in_order_with_duplicates(fe, spend):
    keys = [1, 2, 1, 1, 9, 2, 1]
    times = [at(6), at(1), at(2), at(6), at(0), at(1), at(0)]
    labels = utc_frame({"cid": keys, "t": times, "label": list(range(7))})
    out = joined(fe, labels, FeatureLookup(spend, "cid", "t"))
    assert_frame_equal(out.select(labels.columns), labels)
    assert out["spend"].to_list() == [5.0, 100.0, 2.0, 5.0, None, 100.0, 1.0]
    assert out["visits"].to_list() == [50, 1, 20, 50, None, 1, 10]


def test_null_request_time_or_key_gives_null_features(fe, spend):
    labels = utc_frame({"cid": [1, None, 1], "t": [None, at(3), at(3)]})
    out = joined(fe, labels, FeatureLookup(spend, "cid", "t"))
    assert out["spend"].to_list() == [None, None, 2.0]


def test_without_timestamp_key_a_timeseries_table_gives_the_latest_row(fe, spend):
    labels = utc_frame({"cid": [2, 1, 9], "t": [at(-5), at(-5), at(0)]})
    out = joined(fe, labels, FeatureLookup(spend, "cid"))
    assert out["spend"].to_list() == [100.0, 5.0, None]


def test_several_tables_and_the_same_table_twice(fe, spend):
    fe.create_table("gold.profile", "cid", df=pl.DataFrame({"cid": [1, 2], "segment": ["a", "b"]}))
    labels = utc_frame({"cid": [1, 2, 3], "t": [at(3), at(3), at(3)]})
    out = joined(
        fe, labels,
        FeatureLookup(spend, "cid", "t", feature_names=["spend"]),
        FeatureLookup(spend, "cid", feature_names=["spend"], rename_outputs={"spend": "latest"}),
        FeatureLookup("gold.profile", "cid"),
    )
    assert out.columns == ["cid", "t", "spend", "latest", "segment"]
    assert out.rows() == [
        (1, at(3), 2.0, 5.0, "a"), (2, at(3), 100.0, 100.0, "b"), (3, at(3), None, None, None)
    ]


def test_composite_keys(fe):
    fe.create_table("gold.store_spend", ["cid", "store"], timeseries_column="ts", df=utc_frame({
        "cid": [1, 1, 2, 1], "store": ["x", "y", "x", "x"],
        "ts": [at(0), at(0), at(0), at(2)], "amount": [1, 2, 3, 4],
    }))
    labels = utc_frame({
        "customer": [1, 1, 2, 2, 1], "shop": ["x", "y", "y", "x", "x"],
        "t": [at(1), at(1), at(1), at(1), at(2)],
    })
    lookup = FeatureLookup("gold.store_spend", ["customer", "shop"], "t")
    assert joined(fe, labels, lookup)["amount"].to_list() == [1, 2, None, 3, 4]


def test_time_zones_and_units_are_compared_as_instants(fe):
    written = pl.DataFrame({"cid": [1, 1], "ts": [at(0), at(1)], "f": [0.0, 1.0]}).with_columns(
        pl.col("ts").dt.cast_time_unit("ms").dt.convert_time_zone("America/New_York")
    )
    fe.create_table("gold.zoned", "cid", timeseries_column="ts", df=written)
    stored = fe.read_table("gold.zoned")
    assert stored.schema["ts"] == pl.Datetime("us", "UTC")
    assert stored["ts"].to_list() == [at(0), at(1)]
    labels = pl.DataFrame({"cid": [1, 1, 1], "t": [at(1) - US, at(1), at(1)]}).with_columns(
        pl.col("t").dt.cast_time_unit("ns").dt.convert_time_zone("Asia/Kolkata")
    )
    labels = labels.with_columns(pl.col("t") - pl.duration(nanoseconds=pl.Series([0, 1, 0])))
    out = joined(fe, labels, FeatureLookup("gold.zoned", "cid", "t"))
    assert out["f"].to_list() == [0.0, 0.0, 1.0]
    assert out.schema["t"] == labels.schema["t"]


def test_naive_timestamps_are_refused_naming_the_column(fe, spend):
    labels = pl.DataFrame({"cid": [1], "when": [at(1).replace(tzinfo=None)]})
    with pytest.raises(TimestampError, match="'when'"):
        fe.create_training_set(labels, [FeatureLookup(spend, "cid", "when")], label=None)
    naive = pl.DataFrame({"cid": [1], "ts": [at(0).replace(tzinfo=None)], "f": [1.0]})
    with pytest.raises(TimestampError, match="'ts'"):
        fe.create_table("gold.naive", "cid", timeseries_column="ts", df=naive)
    with pytest.raises(TimestampError, match="'ts'"):
        fe.write_table(spend, naive.rename({"f": "spend"}).with_columns(visits=pl.lit(1)))


def test_key_dtype_mismatch_names_both_columns(fe, spend):
    labels = utc_frame({"cid": ["1"], "t": [at(1)]})
    with pytest.raises(KeyTypeError, match="'cid'.*String.*Int64"):
        fe.create_training_set(labels, [FeatureLookup(spend, "cid", "t")], label=None)


def test_feature_name_collisions_are_refused(fe, spend):
    labels = utc_frame({"cid": [1], "t": [at(1)], "visits": [3]})
    with pytest.raises(FeatureCollisionError, match="'visits'"):
        fe.create_training_set(labels, [FeatureLookup(spend, "cid", "t")], label=None)
    labels = labels.drop("visits")
    twice = [FeatureLookup(spend, "cid", "t"), FeatureLookup(spend, "cid")]
    with pytest.raises(FeatureCollisionError, match="'spend'"):
        fe.create_training_set(labels, twice, label=None)


def test_bad_lookups_fail_before_reading(fe, spend):
    labels = utc_frame({"cid": [1], "t": [at(1)]})
    cases = {
        "not in": FeatureLookup(spend, "cid", "t", feature_names=["nope"]),
        "one column per primary key": FeatureLookup(spend, ["cid", "t"]),
        "needs a timestamp_lookup_key": FeatureLookup(
            spend, "cid", lookback_window=timedelta(days=1)
        ),
    }
    for message, lookup in cases.items():
        with pytest.raises(FeatureStoreError, match=message):
            fe.create_training_set(labels, [lookup], label=None)
    with pytest.raises(FeatureStoreError, match="label column 'y'"):
        fe.create_training_set(labels, [], label="y")


def test_empty_labels_and_empty_feature_tables(fe, spend):
    empty = utc_frame({"cid": [1], "t": [at(1)]}).clear()
    out = joined(fe, empty, FeatureLookup(spend, "cid", "t"))
    assert out.height == 0
    assert out.schema == pl.Schema(
        {"cid": pl.Int64, "t": pl.Datetime("us", "UTC"), "spend": pl.Float64, "visits": pl.Int64}
    )
    fe.create_table("gold.nothing", "cid", timeseries_column="ts", schema={
        "cid": pl.Int64, "ts": pl.Datetime("us", "UTC"), "f": pl.Float64,
    })
    labels = utc_frame({"cid": [1, 2], "t": [at(1), at(2)]})
    assert joined(fe, labels, FeatureLookup("gold.nothing", "cid", "t"))["f"].to_list() == [
        None, None
    ]
    assert joined(fe, labels, FeatureLookup("gold.nothing", "cid"))["f"].to_list() == [None, None]


def test_pandas_rows_are_accepted(fe, spend):
    labels = utc_frame({"cid": [1, 2], "t": [at(2), at(2)]}).to_pandas()
    assert joined(fe, labels, FeatureLookup(spend, "cid", "t"))["spend"].to_list() == [2.0, 100.0]


def test_mixed_utc_offsets_in_one_pandas_column_are_reconciled(fe, spend):
    paris, tokyo = ZoneInfo("Europe/Paris"), ZoneInfo("Asia/Tokyo")
    times = [at(2).astimezone(paris), (at(2) - US).astimezone(tokyo), at(5).astimezone(paris)]
    labels = pd.DataFrame({"cid": [1, 1, 1], "t": pd.Series(times, dtype=object)})
    out = joined(fe, labels, FeatureLookup(spend, "cid", "t", feature_names=["spend"]))
    assert out["spend"].to_list() == [2.0, 1.0, 5.0]
