"""A body's cost is bounded before it is parsed (its JSON values counted against what the
row limit needs, `params` capped), and messages built from client input quote it cut: at
most a few items, each at most 64 characters, never megabytes."""

from __future__ import annotations

import json

import httpx
import polars as pl
import pytest

from lakehouse_ml.serving.payload import MAX_PARAMS_BYTES, PayloadError, parse
from lakehouse_ml.serving.request import RequestSchema
from tests.serving.conftest import INVOCATIONS, auth

MIB = 1024 * 1024
MESSAGE_BYTES = 2_000
HUGE = "n" * (5 * MIB)


def test_bodies_of_millions_of_values_are_refused_before_parsing_with_the_reason(
    server: httpx.Client, token: str
) -> None:
    zeros = b'{"params": {"x": [' + b"0," * (4 * MIB - 40) + b'0]}, "inputs": {"c": [1]}}'
    empty = b'{"dataframe_records": [' + b"{}," * (MIB * 8 // 3 - 20) + b"{}]}"
    for body in (zeros, empty):
        assert len(body) < 8 * MIB
        response = server.post(INVOCATIONS, content=body,
                               headers={**auth(token), "Content-Type": "application/json"})
        assert response.status_code == 400, response.text
        assert "body holds more JSON values than the" in response.json()["message"]


def test_the_value_bound_admits_max_rows_full_rows_and_refuses_beyond() -> None:
    rows = [{"a": "x, y, z", "b": [1, 2], "c": None}] * 5_000
    body = json.dumps({"dataframe_records": rows, "params": {"p": 1}}).encode()
    assert len(parse(body, max_rows=5_000, width=3)["a"]) == 5_000
    cheap = json.dumps({"dataframe_records": rows[:1], "params": {"p": [0] * 200_000}})
    with pytest.raises(PayloadError, match="more JSON values"):
        parse(cheap.encode(), max_rows=5_000, width=3)


def test_params_are_an_object_of_bounded_size() -> None:
    rows = {"inputs": {"c": [1]}}
    with pytest.raises(PayloadError, match=f"params exceed the limit of {MAX_PARAMS_BYTES}"):
        parse(json.dumps({**rows, "params": {"p": "x" * MAX_PARAMS_BYTES}}).encode())
    with pytest.raises(PayloadError, match="params must be an object .* got list"):
        parse(json.dumps({**rows, "params": [["password", "x"]]}).encode())
    assert parse(json.dumps({**rows, "params": {"p": 1}}).encode()) == {"c": [1]}


def _message(body: object) -> str:
    with pytest.raises(PayloadError) as error:
        parse(json.dumps(body).encode())
    return str(error.value)


MESSAGES = [  # body, how the message starts quoting it
    ({"inputs": {"c": [1]}, **{f"k{i}": 0 for i in range(100_000)}},
     "got keys ['inputs', 'k0',"),
    ({"dataframe_split": {"columns": [HUGE, HUGE, *map(str, range(500))] * 2,
                          "data": [[]]}}, "has duplicates: ['nnn"),
    ({"inputs": {f"{i}{HUGE[:5000]}": [1] * (i % 2 + 1) for i in range(1000)}},
     "differ in length: ['0nnn"),
    ({"dataframe_split": {"columns": ["c"], "data": [[1]], "index": [0], HUGE: 1}},
     "takes only ['columns', 'data', 'index'], got ['nnn"),
]


@pytest.mark.parametrize(("body", "start"), MESSAGES,
                         ids=["keys", "duplicates", "lengths", "split keys"])
def test_messages_about_client_lists_and_names_stay_short(body: object, start: str) -> None:
    message = _message(body)
    assert len(message) < MESSAGE_BYTES and start in message, message[:300]
    assert "characters)" in message or "more]" in message, message[:300]


def test_unexpected_columns_are_named_cut() -> None:
    schema = RequestSchema(pl.Schema({"k": pl.Int64}), pl.Schema({"f": pl.Float64}))
    with pytest.raises(PayloadError) as error:
        schema.parse({HUGE: [1], **{f"u{i}": [1] for i in range(500)}, "k": [1]})
    message = str(error.value)
    assert len(message) < MESSAGE_BYTES and "unexpected column(s) ['nnn" in message, message
    assert "and 491 more]" in message, message
