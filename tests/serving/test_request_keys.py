"""Request key columns follow the feature store's key rule (`features.keys.accepts`): a key the
row lookup would refuse with `KeyTypeError` (a 500) is a 400 naming the column at parsing."""

from __future__ import annotations

import json

import polars as pl
import pytest

from lakehouse_ml.features.errors import KeyTypeError
from lakehouse_ml.features.keys import key_frame
from lakehouse_ml.serving.payload import PayloadError, parse
from lakehouse_ml.serving.request import RequestSchema

SCHEMA = RequestSchema(pl.Schema({"customer_id": pl.Float64}),
                       pl.Schema({"spend": pl.Float64, "visits": pl.Int64}))


def request(rows: list[dict[str, object]]) -> dict[str, list[object]]:
    return parse(json.dumps({"dataframe_records": rows}).encode())


def test_an_integer_a_float_key_cannot_hold_exactly_is_refused_naming_the_column() -> None:
    with pytest.raises(PayloadError, match=r"column 'customer_id' takes number values, got "
                       r"9007199254740993 \(int, not held exactly by the column's floats\) "
                       r"in row 1"):
        SCHEMA.parse(request([{"customer_id": 1}, {"customer_id": 2**53 + 1}]))


@pytest.mark.parametrize("value", [2**53 + 1, 2**53, 7, 2.5, -(2**60) - 1])
def test_a_key_the_request_accepts_is_one_the_row_lookup_accepts(value: int | float) -> None:
    """Both sides of the boundary: whatever parsing lets through, `key_frame` (the online
    lookup's key check) takes; whatever it would refuse, parsing refuses first."""
    keys = {"customer_id": [value]}
    try:
        key_frame(keys, SCHEMA.keys, "online lookup")
        lookup_accepts = True
    except KeyTypeError:
        lookup_accepts = False
    try:
        parsed = SCHEMA.parse(request([{"customer_id": value}]))
    except PayloadError:
        assert not lookup_accepts
    else:
        assert lookup_accepts and parsed.columns == keys and parsed.lookup


def test_a_float_feature_still_takes_any_integer_json_can_carry_as_a_number() -> None:
    parsed = SCHEMA.parse(request([{"spend": 2**53 + 1, "visits": 3}]))
    assert parsed.columns == {"spend": [2**53 + 1], "visits": [3]} and not parsed.lookup
