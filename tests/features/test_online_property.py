"""Online equals offline: at every time from the publication on, `lookup_online`, the row lookup
(serving's path) and the training-set join give the same features, in SQLite and in Redis."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.features import FeatureEngineeringClient, FeatureLookup, FeatureStoreError
from lakehouse_ml.features.online import RedisStore
from lakehouse_ml.features.timestamps import STORED
from tests.conftest import close_writers

KEYS = [0, 1, 2, 3, 9]
"""Requested keys; 9 never has a row."""
HOUR = timedelta(hours=1)

feature_rows = st.dictionaries(
    st.tuples(st.integers(0, 3), st.integers(-6, 6)),  # (key, hours from the anchor)
    st.one_of(st.none(), st.floats(-1e6, 1e6)), max_size=25,
)


def table(rows: dict, anchor: datetime) -> pl.DataFrame:
    return pl.DataFrame({
        "k": pl.Series([k for k, _ in rows], dtype=pl.Int64),
        "ts": pl.Series([anchor + h * HOUR for _, h in rows], dtype=STORED),
        "v": pl.Series(list(rows.values()), dtype=pl.Float64),
    })


def store_for(kind: str, request: pytest.FixtureRequest):
    if kind == "sqlite":
        return None
    store = RedisStore(request.getfixturevalue("redis_url"))
    store._client.flushdb()
    return store


def client(root: str, kind: str, request: pytest.FixtureRequest) -> FeatureEngineeringClient:
    return FeatureEngineeringClient(Catalog(root, "dev"), online_store=store_for(kind, request))


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
# 15 examples a store (each a new lakehouse, two publications, up to five lookup times: ~0.4-0.8
# s): the join's cases are met by examples too (below; tests/features/test_online.py)
@settings(max_examples=15, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    first=feature_rows, second=feature_rows,
    window=st.sampled_from([None, 0, 30, 60, 120, 300]),  # minutes
    offsets=st.lists(st.integers(0, 16), min_size=1, max_size=4, unique=True),
    time_type=st.sampled_from([STORED, pl.Datetime("ns", "Asia/Kolkata"),
                               pl.Datetime("ms", "America/St_Johns")]),
)
def test_online_lookups_equal_the_training_set_join_after_publication(
    kind, request, first, second, window, offsets, time_type
):
    """Rows lie on whole hours around the anchor (an instant just before the first publish),
    lookups at the publication time and on half hours after it, so that rows stamped exactly
    at the lookup time and windows ending exactly on a row are both met. A second write (new
    rows and new values at old times) is published incrementally. `get_online_features`
    (as of now, no window) equals the join at the publication time: no row lies between."""
    anchor = datetime.now(UTC).replace(microsecond=0)
    lookback = None if window is None else timedelta(minutes=window)
    steps = [
        FeatureLookup("gold.f", "k", "t", lookback_window=lookback),
        FeatureLookup("gold.f", "k", feature_names=["v"], rename_outputs={"v": "newest"}),
        FeatureLookup("gold.f", "k", "t", feature_names=["v"], rename_outputs={"v": "now"}),
    ]
    outputs = ["v", "newest", "now"]
    with tempfile.TemporaryDirectory() as root:
        fe = client(root, kind, request)
        try:
            fe.create_table("gold.f", "k", timeseries_column="ts",
                            df=table(first or {(0, 0): 1.0}, anchor))
            published = fe.publish_table("gold.f").published_at
            if second:
                fe.write_table("gold.f", table(second, anchor))
                published = fe.publish_table("gold.f").published_at
            assert published - anchor < timedelta(minutes=30)
            serve = fe.row_lookup(steps, pl.Schema({"k": pl.Int64}), outputs)
            times = [published, *(anchor + k * HOUR / 2 for k in offsets if k)]
            for at in times:
                rows = pl.DataFrame({"k": KEYS, "t": [at] * len(KEYS)},
                                    schema={"k": pl.Int64, "t": STORED}).with_columns(
                    pl.col("t").cast(time_type))
                trained = fe.create_training_set(rows, steps, label=None).load_df()
                online = fe.lookup_online(rows, steps)
                by_row = serve({"k": KEYS}, at)
                for column in outputs:
                    expected = trained[column].to_list()
                    assert online[column].to_list() == expected, (at, column)
                    assert by_row[column] == expected, (at, column)
                if at == published:
                    now = fe.get_online_features("gold.f", KEYS)["v"].to_list()
                    assert now == trained["now"].to_list()
        finally:
            fe.close()
            close_writers()  # audit and lineage written before the folder goes


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_a_future_row_does_not_hide_the_row_valid_now(kind, request, tmp_path):
    now = datetime.now(UTC)
    fe = client(str(tmp_path), kind, request)
    fe.create_table("gold.f", "k", timeseries_column="ts", df=pl.DataFrame({
        "k": [1, 1, 2], "ts": [now - 2 * HOUR, now + 2 * HOUR, now - 2 * HOUR],
        "v": [1.0, 2.0, 3.0]}))
    fe.publish_table("gold.f")
    lookup = [FeatureLookup("gold.f", "k", "t", lookback_window=timedelta(days=3))]
    for offset, expected in ((0, [1.0, 3.0]), (3, [2.0, 3.0])):
        rows = pl.DataFrame({"k": [1, 2], "t": [now + offset * HOUR] * 2},
                            schema={"k": pl.Int64, "t": STORED})
        assert fe.lookup_online(rows, lookup)["v"].to_list() == expected
    assert fe.lookup_online(pl.DataFrame({"k": [1, 2]}), lookup)["v"].to_list() == [1.0, 3.0]
    assert fe.get_online_features("gold.f", [1, 2])["v"].to_list() == [1.0, 3.0]
    fe.close()


def test_too_many_rows_ahead_of_the_publication_are_refused(fe):
    now = datetime.now(UTC)
    fe.create_table("gold.f", "k", timeseries_column="ts", df=pl.DataFrame({
        "k": [7] * 4, "ts": [now + h * HOUR for h in range(1, 5)], "v": [1.0] * 4}))
    with pytest.raises(FeatureStoreError, match=r"key \(7,\) has 4 rows .*at most 3"):
        fe.publish_table("gold.f", max_future_rows=3)
    with pytest.raises(FeatureStoreError, match="not published"):
        fe.get_online_features("gold.f", [7])
    assert fe.publish_table("gold.f", max_future_rows=4).written == 1
