"""Online store: published rows equal the latest offline snapshot, in SQLite and in Redis."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from lakehouse_ml.features import (
    FeatureEngineeringClient,
    FeatureFunction,
    FeatureLookup,
    FeatureStoreError,
    KeyTypeError,
)
from lakehouse_ml.features.online import RedisStore, SQLiteStore
from lakehouse_ml.features.online.codec import Snapshot

from .timeline import at, utc_frame

KEYS = 500


@pytest.fixture(params=["sqlite", "redis"])
def online(request, catalog, monkeypatch) -> Iterator[FeatureEngineeringClient]:
    monkeypatch.delenv("REDIS_URL", raising=False)
    if request.param == "sqlite":
        client = FeatureEngineeringClient(catalog)
    else:
        store = RedisStore(request.getfixturevalue("redis_url"))
        store._client.flushdb()
        client = FeatureEngineeringClient(catalog, online_store=store)
    yield client
    client.close()


def history(seed: int, keys: int = KEYS) -> pl.DataFrame:
    """Several snapshots per key at random days, with nulls, NaN and a string feature."""
    rows = pl.DataFrame({"cid": pl.int_range(0, keys * 4, eager=True) % keys}).with_columns(
        ts=pl.lit(at(0)) + pl.duration(hours=pl.int_range(0, keys * 4).shuffle(seed)),
        score=pl.int_range(0, keys * 4).shuffle(seed + 1) / 7,
        tier=pl.format("t{}", pl.int_range(0, keys * 4) % 3),
    )
    return rows.with_columns(
        score=pl.when(pl.col("cid") % 11 == 0).then(None)
        .when(pl.col("cid") % 13 == 0).then(float("nan")).otherwise("score"),
    ).with_columns(pl.col("ts").dt.replace_time_zone("UTC"))


def latest_offline(fe: FeatureEngineeringClient, name: str) -> pl.DataFrame:
    """The reference: last row per key by time, computed independently of the client."""
    return fe.read_table(name).sort("ts").unique("cid", keep="last").sort("cid")


def assert_consistent(fe: FeatureEngineeringClient, name: str) -> None:
    offline = latest_offline(fe, name)
    online_rows = fe.get_online_features(name, offline["cid"].to_list())
    assert_frame_equal(online_rows, offline)


def test_online_equals_latest_offline_snapshot_and_publishes_only_changes(online):
    online.create_table("gold.scores", "cid", timeseries_column="ts", df=history(1))
    first = online.publish_table("gold.scores")
    assert (first.version, first.written, first.replaced) == (1, KEYS, True)
    assert_consistent(online, "gold.scores")

    later = utc_frame({"cid": [3, 4, KEYS + 1], "ts": [at(400)] * 3, "score": [1.0, 2.0, 3.0],
                       "tier": ["x", "y", "z"]})
    stale = utc_frame({"cid": [5], "ts": [at(-1)], "score": [9.0], "tier": ["old"]})
    online.write_table("gold.scores", pl.concat([later, stale]))
    second = online.publish_table("gold.scores")
    assert (second.written, second.deleted, second.replaced) == (3, 0, False)
    assert_consistent(online, "gold.scores")
    assert online.publish_table("gold.scores").written == 0

    online.write_table("gold.scores", later.with_columns(extra=pl.lit(1)))
    assert online.publish_table("gold.scores").replaced
    assert_consistent(online, "gold.scores")


def test_deleted_keys_leave_the_online_store(online):
    online.create_table("gold.scores", "cid", timeseries_column="ts", df=history(2, keys=20))
    online.publish_table("gold.scores")
    online.catalog.delete("gold.scores", "cid < 5")
    report = online.publish_table("gold.scores")
    assert (report.deleted, report.replaced) == (5, False)
    assert online.get_online_features("gold.scores", [0, 4, 5])["score"].is_null().to_list()[:2] \
        == [True, True]
    assert_consistent(online, "gold.scores")


def test_keys_in_any_form_in_order_with_nulls_for_unknown(online):
    online.create_table("gold.pairs", ["cid", "shop"], df=pl.DataFrame(
        {"cid": [1, 1, 2], "shop": ["a", "b", "a"], "n": [10, 11, 20]}
    ))
    online.publish_table("gold.pairs")
    expected = [10, None, 20, 10]
    requests = [
        [(1, "a"), (2, "b"), (2, "a"), (1, "a")],
        [{"cid": 1, "shop": "a"}, {"cid": 2, "shop": "b"}, {"cid": 2, "shop": "a"},
         {"cid": 1, "shop": "a"}],
        pl.DataFrame({"cid": [1, 2, 2, 1], "shop": ["a", "b", "a", "a"]}).to_pandas(),
    ]
    for keys in requests:
        out = online.get_online_features("gold.pairs", keys)
        assert out.columns == ["cid", "shop", "n"]
        assert out["n"].to_list() == expected
    assert online.get_online_features("gold.pairs", []).height == 0


def test_unpublished_table_is_an_error(online):
    online.create_table("gold.p", "cid", df=pl.DataFrame({"cid": [1], "n": [1]}))
    with pytest.raises(FeatureStoreError, match="not published"):
        online.get_online_features("gold.p", [1])


def test_serving_computes_features_as_training_does(online):
    online.create_table("gold.scores", "cid", timeseries_column="ts", df=history(3, keys=50))
    online.publish_table("gold.scores")
    steps = [
        FeatureLookup("gold.scores", "cid", "t", feature_names=["score"],
                      lookback_window=timedelta(days=30), default_values={"score": 0.0}),
        FeatureLookup("gold.scores", "cid", feature_names=["tier"]),
        FeatureFunction("scaled", pl.col("score") * pl.col("amount")),
    ]
    for request_time in (at(10), at(60)):  # after every snapshot: inside, then past the window
        requests = utc_frame({"cid": [7, 0, 99, 7], "t": [request_time] * 4,
                              "amount": [1.0, 2.0, 3.0, 4.0]})
        served = online.lookup_online(requests, steps)
        trained = online.create_training_set(requests, steps, label=None).load_df()
        assert_frame_equal(served, trained)


def test_sqlite_is_the_default_under_the_lakehouse_root(catalog, monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    fe = FeatureEngineeringClient(catalog)
    assert isinstance(fe.online_store, SQLiteStore)
    fe.create_table("gold.p", "cid", df=pl.DataFrame({"cid": [1], "n": [1]}))
    fe.publish_table("gold.p")
    assert fe.online_store.path("dev.gold.p") == (
        fe.online_store.directory / "dev.gold.p.sqlite"
    )
    assert str(fe.online_store.directory) == f"{catalog.root}/dev/_online"
    assert fe.online_store.path("dev.gold.p").exists()


def test_redis_url_in_the_environment_selects_redis(catalog, monkeypatch, redis_url):
    monkeypatch.setenv("REDIS_URL", redis_url)
    assert isinstance(FeatureEngineeringClient(catalog).online_store, RedisStore)


def test_serving_without_request_time_uses_now(online):
    online.create_table("gold.scores", "cid", timeseries_column="ts", df=history(4, keys=30))
    online.publish_table("gold.scores")
    lookup = FeatureLookup("gold.scores", "cid", "t", feature_names=["tier"])
    served = online.lookup_online(pl.DataFrame({"cid": [3, 1000]}), [lookup])
    assert served.columns == ["cid", "tier"]
    latest = latest_offline(online, "gold.scores").filter(pl.col("cid") == 3)["tier"].item()
    assert served["tier"].to_list() == [latest, None]



@pytest.fixture
def keyed(online) -> FeatureEngineeringClient:
    """Tables keyed by Int64, Float64 and String, published."""
    for name, keys in (("gold.k", [1, 2]), ("gold.f", [1.0, 2.0]), ("gold.s", ["1", "2"])):
        online.create_table(name, "cid", df=pl.DataFrame({"cid": keys, "x": [10.0, 20.0]}))
        online.publish_table(name)
    return online


@pytest.mark.parametrize("keys", [
    [1.7], [True], ["1"], [2**63], [{"cid": 1.0}], [2.0],
    pl.DataFrame({"cid": [2.9]}), pl.DataFrame({"cid": pl.Series([1], dtype=pl.Int32)}),
], ids=repr)
def test_an_integer_key_of_another_type_is_refused_naming_the_column(keyed, keys):
    """No coercion online, as offline: 1.7, True, "1" or 2.9 never find customer 1 or 2."""
    with pytest.raises(KeyTypeError, match="'cid'"):
        keyed.get_online_features("gold.k", keys)
    assert keyed.get_online_features("gold.k", [2, None, 1])["x"].to_list() == [20.0, None, 10.0]


def test_float_and_string_keys_take_values_of_their_own_type(keyed):
    assert keyed.get_online_features("gold.f", [2, 1.0])["x"].to_list() == [20.0, 10.0]
    for wrong in ([True], ["2"], [2**53 + 1]):  # the last has no exact float
        with pytest.raises(KeyTypeError, match="'cid'"):
            keyed.get_online_features("gold.f", wrong)
    assert keyed.get_online_features("gold.s", ["2"])["x"].to_list() == [20.0]
    with pytest.raises(KeyTypeError, match="'cid'"):
        keyed.get_online_features("gold.s", [1])
    with pytest.raises(FeatureStoreError, match="2 value"):
        keyed.get_online_features("gold.k", [(1, 2)])


def test_lookups_and_row_lookups_refuse_wrong_key_types_as_training_does(keyed):
    lookup = [FeatureLookup("gold.k", "customer")]
    floats = pl.DataFrame({"customer": [2.9]})
    for build in (lambda: keyed.create_training_set(floats, lookup, label=None),
                  lambda: keyed.lookup_online(floats, lookup)):
        with pytest.raises(KeyTypeError, match="'customer'"):
            build()
    rows = keyed.row_lookup(lookup, pl.Schema({"customer": pl.Int64}), ["x"])
    assert rows({"customer": [2]}, datetime.now(UTC)) == {"x": [20.0]}
    for wrong in (1.7, True, "1"):
        with pytest.raises(KeyTypeError, match="'customer'"):
            rows({"customer": [wrong]}, datetime.now(UTC))


def test_a_store_published_in_the_one_row_layout_must_be_published_again(fe):
    fe.create_table("gold.k", "cid", df=pl.DataFrame({"cid": [1], "x": [10.0]}))
    old = Snapshot(1, ["cid"], pl.Schema({"cid": pl.Int64, "x": pl.Float64}))
    fe.online_store.write("dev.gold.k", old, ['{"cid":1}'], ['{"x":4621819117588971520}'], [],
                          replace=True)
    with pytest.raises(FeatureStoreError, match="publish it again"):
        fe.get_online_features("gold.k", [1])
    assert fe.publish_table("gold.k").replaced
    assert fe.get_online_features("gold.k", [1])["x"].to_list() == [10.0]
