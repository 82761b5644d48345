"""Serving's row lookup without frames: keys encoded in Python exactly as the store's codec
encodes them, one SQLite statement per table read, feature-function outputs remembered by their
inputs — each giving what the frame path gives."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lakehouse_ml.features import FeatureEngineeringClient, FeatureFunction, FeatureLookup
from lakehouse_ml.features.errors import KeyTypeError
from lakehouse_ml.features.online import KeyBatch, SQLiteStore
from lakehouse_ml.features.online.codec import encode
from lakehouse_ml.features.timestamps import STORED

from .timeline import at

INT64 = st.integers(-(2**63), 2**63 - 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.none() | INT64, st.none() | st.booleans(),
                          st.none() | st.integers(0, 255)), max_size=6))
def test_keys_encoded_in_python_equal_the_codec(rows: list[tuple]) -> None:
    schema = pl.Schema({"customer_id": pl.Int64, "active": pl.Boolean, "shop": pl.UInt8})
    columns = {c: [r[i] for r in rows] for i, c in enumerate(schema)}
    frame = pl.DataFrame(columns, schema=schema)
    batch = KeyBatch.of_values(columns, schema)
    assert "frame" not in vars(batch)  # encoded without building the frame
    assert batch.encoded == (encode(frame, frame.columns).to_list() if rows else [])
    assert batch.types == KeyBatch(frame).types
    assert batch.frame.equals(frame) and batch.frame.schema == schema  # UInt8 stays UInt8


def test_string_keys_are_encoded_through_the_frame() -> None:
    schema = pl.Schema({"sku": pl.String})
    columns = {"sku": ['a"b', "é\n", None]}
    frame = pl.DataFrame(columns, schema=schema)
    assert KeyBatch.of_values(columns, schema).encoded == encode(frame, ["sku"]).to_list()


def test_keys_encoded_through_the_frame_keep_the_table_s_types() -> None:
    """Values Polars would read as another type (a millisecond timestamp as microseconds) are
    encoded as the table's key type, as `encode` stored them."""
    schema = pl.Schema({"at": pl.Datetime("ms"), "day": pl.Date})
    columns = {"at": [datetime(2026, 1, 1, 1, 2, 3, 456000)], "day": [date(2026, 1, 1)]}
    batch = KeyBatch.of_values(columns, schema)
    assert batch.encoded == encode(pl.DataFrame(columns, schema=schema), list(schema)).to_list()
    assert batch.frame.schema == schema


def test_sqlite_reads_one_publication_in_one_statement(tmp_path) -> None:
    store = SQLiteStore(tmp_path)
    assert store.read("gold.t", ["k"]) == (None, [None])
    statements: list[str] = []
    store._connection("gold.t").set_trace_callback(statements.append)
    assert store.read("gold.t", ['{"id":1}', '{"id":2}']) == (None, [None, None])
    assert len(statements) == 1


@pytest.fixture
def ratios(fe: FeatureEngineeringClient) -> FeatureEngineeringClient:
    frame = pl.DataFrame({"cid": [1, 2, 3, 4], "ts": [at(days=1)] * 4,
                          "num": [1.0, 1.0, 1.0, None], "den": [0.0, -0.0, 2.0, 2.0]})
    fe.create_table("gold.ratios", "cid", timeseries_column="ts",
                    df=frame.with_columns(pl.col("ts").cast(STORED)))
    fe.publish_table("gold.ratios")
    return fe


STEPS = [FeatureLookup("gold.ratios", "customer", "served_at", lookback_window=timedelta(days=9)),
         FeatureFunction("ratio", pl.col("num") / pl.col("den"))]


def test_remembered_function_outputs_tell_minus_zero_from_zero(
        ratios: FeatureEngineeringClient) -> None:
    """0.0 and -0.0 are equal dict keys; their quotients are +inf and -inf."""
    rows = ratios.row_lookup(STEPS, pl.Schema({"customer": pl.Int64}), ["ratio", "den"])
    for order in ([1, 2, 3, 4], [2, 1, 4, 3], [2], [1]):  # remembered after the first call
        got = rows({"customer": order}, at(days=2))
        expected = ratios.lookup_online(
            pl.DataFrame({"customer": order, "served_at": [at(days=2)] * len(order)},
                         schema={"customer": pl.Int64, "served_at": STORED}), STEPS)
        assert [repr(v) for v in got["ratio"]] == [repr(v) for v in expected["ratio"]]
    assert rows({"customer": [1, 2]}, at(days=2))["ratio"] == [float("inf"), float("-inf")]


def test_wrong_key_type_still_refused_without_a_frame(ratios: FeatureEngineeringClient) -> None:
    rows = ratios.row_lookup(STEPS, pl.Schema({"customer": pl.Int64}), ["ratio"])
    for wrong in (1.0, True, "1"):
        with pytest.raises(KeyTypeError, match="'customer'.*row 1"):
            rows({"customer": [2, wrong]}, at(days=2))
