"""Whatever a client sends, a malformed payload is a 400 naming the problem, never a 500; and
a real failure is a 500 whose body says nothing about it (the server log has the details)."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.serving.payload import FORMATS
from lakehouse_ml.serving.tokens import TokenStore
from tests.serving.conftest import INVOCATIONS, auth, config, running

EXCEPTION_TEXT = re.compile(r"Traceback|\b[A-Z][A-Za-z]*(Error|Exception)\b|File \"")


@pytest.mark.parametrize(("body", "problem"), [
    (b'{"inputs": ' + b"[" * 1000 + b"]" * 1000 + b"}", "nested too deeply"),
    (b'{"inputs": {"customer_id": [' + b"7" * 5001 + b"]}}", "Exceeds the limit (4300 digits)"),
    (b'{"inputs": {"customer_id": ["' + b"x" * 100_000 + b'"]}}', "(100002 characters)"),
    (b'{"inputs": {"customer_id": [1]}, "inputs": 5}', "repeats the key 'inputs'"),
    (b"\xff\xfe{}", "not valid JSON"),
])
def test_pathological_payloads_are_400s(
    server: httpx.Client, token: str, body: bytes, problem: str
) -> None:
    response = server.post(INVOCATIONS, content=body,
                           headers={**auth(token), "Content-Type": "application/json"})
    assert response.status_code == 400, response.text[:300]
    assert problem in response.json()["message"]
    assert len(response.text) < 1000, "the offending value is named, not echoed"


_scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=10**18)
            | st.floats() | st.text(max_size=8))
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=12)
_names = st.sampled_from(["customer_id", "tenure_days", "plan_tier", "x"]) | st.text(max_size=6)
_rows = st.lists(st.dictionaries(_names, _values, max_size=3), max_size=3)
_split = st.fixed_dictionaries({"columns": st.lists(_names, max_size=3) | _values,
                                "data": st.lists(st.lists(_values, max_size=3), max_size=3)})
_columnar = st.dictionaries(_names, st.lists(_values, max_size=3) | _values, max_size=3)
_formats = st.sampled_from([*FORMATS, "params", "rows"])
_documents = st.dictionaries(_formats, _rows | _split | _columnar | _values, min_size=1,
                             max_size=2) | _values
_hostile = st.one_of(  # what JSON allows but a parser may not: deep nesting, huge integers
    st.integers(1, 3000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(1, 6000).map(lambda digits: f'{{"customer_id": [{"7" * digits}]}}'),
)
_hostile_bodies = st.builds(lambda kind, value: f'{{"{kind}": {value}}}'.encode(), _formats,
                            _hostile)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.one_of(_documents.map(lambda d: json.dumps(d).encode()), _hostile_bodies,
                      st.binary(max_size=40)))
def test_no_payload_gets_a_500_or_exception_text(
    server: httpx.Client, token: str, body: bytes
) -> None:
    response = server.post(INVOCATIONS, content=body,
                           headers={**auth(token), "Content-Type": "application/json"})
    assert response.status_code in (200, 400), (body, response.text)
    assert not EXCEPTION_TEXT.search(response.text), (body, response.text)


def test_a_failure_is_a_generic_500_with_details_only_in_the_server_log(
    lakehouse_copy: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    catalog = Catalog(lakehouse_copy.root, lakehouse_copy.env)
    token = TokenStore(catalog).create("failure-test")
    body = {"inputs": {"customer_id": [1]}}
    with running(config(lakehouse_copy)) as client:
        assert client.post(INVOCATIONS, json=body, headers=auth(token)).status_code == 200
        for store in Path(lakehouse_copy.root, lakehouse_copy.env, "_online").glob("*.sqlite"):
            with sqlite3.connect(store) as damaged:
                damaged.execute("DROP TABLE rows")
        with caplog.at_level(logging.ERROR, logger="lakehouse_ml.serving.app"):
            response = client.post(INVOCATIONS, json=body, headers=auth(token))
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert response.json() == {
        "error_code": "INTERNAL_ERROR",
        "message": f"internal error (request id {request_id}): the server log has the details"}
    (record,) = [r for r in caplog.records if request_id in r.getMessage()]
    assert record.exc_info and "no such table" in str(record.exc_info[1])
