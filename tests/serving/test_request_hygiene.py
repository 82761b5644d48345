"""What a request says is taken as said or refused in the project's error shape: non-finite
features of full rows, keys repeated in one JSON object, a body that is not JSON by its
Content-Type, and every answer of the framework itself (unknown path, wrong method, trailing
slash, a request the HTTP parser cannot read)."""

from __future__ import annotations

import dataclasses
import json
import socket
from datetime import UTC, datetime

import httpx
import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.domains.churn.training import TRAINING_SET
from lakehouse_ml.features import FeatureEngineeringClient, FeatureLookup
from lakehouse_ml.serving.model import non_finite_inputs
from lakehouse_ml.serving.payload import PayloadError, parse
from lakehouse_ml.serving.request import RequestSchema
from tests.serving.conftest import INVOCATIONS, auth, logged

JSON = {"Content-Type": "application/json"}
KEYS = [3, 5]


def _error(response: httpx.Response, status: int, code: str) -> str:
    """The message of an error answer, after checking its status and Databricks' shape."""
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"] == "application/json"
    document = response.json()
    assert set(document) == {"error_code", "message"}, document
    assert document["error_code"] == code, document
    return document["message"]


@pytest.fixture(scope="module")
def full_rows(lakehouse_catalog: Catalog) -> tuple[list[str], list[list[object]]]:
    """Full feature rows (key plus every model feature) of two customers, as served now."""
    rows = pl.DataFrame({"customer_id": KEYS, TRAINING_SET.time_column: [datetime.now(UTC)] * 2},
                        schema_overrides={TRAINING_SET.time_column: pl.Datetime("us", "UTC")})
    features = FeatureEngineeringClient(lakehouse_catalog).lookup_online(
        rows, list(TRAINING_SET.feature_lookups))
    columns = ["customer_id", *MODEL.feature_columns(features.columns)]
    return columns, [list(r) for r in features.select(columns).rows()]


def _float_feature(columns: list[str], data: list[list[object]]) -> int:
    return next(i for i, c in enumerate(columns)
                if c != "customer_id" and isinstance(data[0][i], float))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_non_finite_feature_in_a_full_row_is_a_400_naming_row_and_column(
    server: httpx.Client, token: str, full_rows: tuple[list[str], list[list[object]]],
    literal: str,
) -> None:
    columns, data = full_rows
    at = _float_feature(columns, data)
    body = json.dumps({"dataframe_split": {"columns": columns, "data": data}})
    assert server.post(INVOCATIONS, content=body, headers={**auth(token), **JSON}
                       ).status_code == 200, "the same rows, finite, are scored"
    data = [list(r) for r in data]
    data[1][at] = "NON_FINITE"
    body = json.dumps({"dataframe_split": {"columns": columns, "data": data}})
    body = body.replace('"NON_FINITE"', literal)

    response = server.post(INVOCATIONS, content=body, headers={**auth(token), **JSON})

    message = _error(response, 400, "BAD_REQUEST")
    assert f"column {columns[at]!r} takes finite number values" in message
    assert "not finite" in message and "in row 1" in message


def test_a_column_tagged_allow_non_finite_takes_nan_and_infinity(lakehouse_copy: Settings
                                                                  ) -> None:
    """The catalog's `allow_non_finite` column tag on a feature table (the contracts'
    metadata name) lets that feature be NaN or ±inf in a full row; others stay finite."""
    catalog = Catalog(lakehouse_copy.root, lakehouse_copy.env)
    client = FeatureEngineeringClient(catalog)
    lookup = next(s for s in TRAINING_SET.feature_lookups if isinstance(s, FeatureLookup))
    table = client.get_table(lookup.table_name)
    tagged = next(f.name for f in table.features if table.schema[f.name].is_float())
    entry = catalog.describe(lookup.table_name)
    catalog.create_table(lookup.table_name, table.schema, dataclasses.replace(
        entry.info, column_tags={**entry.info.column_tags, tagged: ["allow_non_finite"]}))
    features = pl.Schema({lookup.output_name(tagged): pl.Float64, "other": pl.Float64})

    allowed = non_finite_inputs(client, TRAINING_SET, features)

    assert allowed == {lookup.output_name(tagged)}
    schema = RequestSchema(pl.Schema({"customer_id": pl.Int64}), features, allowed)
    rows = {lookup.output_name(tagged): [float("nan"), float("inf")], "other": [1.0, 2.0]}
    assert schema.parse(rows).columns == rows
    with pytest.raises(PayloadError, match=r"column 'other' takes finite number values, got "
                                           r"-inf \(float, not finite.*in row 1"):
        schema.parse({**rows, "other": [1.0, float("-inf")]})


@pytest.mark.parametrize(("body", "key"), [
    (b'{"inputs": {"customer_id": [1]}, "inputs": {"customer_id": [2]}}', "'inputs'"),
    (b'{"dataframe_records": [{"customer_id": 1, "customer_id": 2}]}', "'customer_id'"),
    (b'{"params": {"a": 1, "a": 2}, "inputs": {"customer_id": [1]}}', "'a'"),
    (b'{"inputs": {"' + b"k" * 500 + b'": [1], "' + b"k" * 500 + b'": [2]}}',
     "(502 characters)"),
])
def test_a_key_repeated_in_one_json_object_is_a_400_naming_it(
    server: httpx.Client, token: str, body: bytes, key: str
) -> None:
    response = server.post(INVOCATIONS, content=body, headers={**auth(token), **JSON})

    message = _error(response, 400, "BAD_REQUEST")
    assert "body repeats the key" in message and key in message
    assert len(message) < 300, "a long key is named, not echoed"


def test_the_same_key_in_different_objects_is_fine() -> None:
    assert parse(b'{"inputs": [{"customer_id": 1}, {"customer_id": 2}]}') == {
        "customer_id": [1, 2]}


@pytest.mark.parametrize(("content_type", "named"), [
    ("text/plain", "'text/plain' is not supported"),
    ("application/x-www-form-urlencoded", "is not supported"),  # curl -d without -H
    ("text/csv", "'text/csv' is not supported"),
    ("application/json; charset=latin-1", "'charset=latin-1' is not supported"),
    ("application/jsonx", "is not supported"),
    (None, "Content-Type is missing"),
])
def test_a_body_not_declared_as_json_is_a_415(
    server: httpx.Client, token: str, lakehouse_catalog: Catalog, content_type: str | None,
    named: str,
) -> None:
    body = json.dumps({"inputs": {"customer_id": KEYS}}).encode()
    headers = auth(token) | ({"Content-Type": content_type} if content_type else {})

    response = server.post(INVOCATIONS, content=body, headers=headers)

    message = _error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert named in message and "application/json" in message
    (row,) = logged(lakehouse_catalog, [response.headers["x-request-id"]]).iter_rows(named=True)
    assert row["status_code"] == 415


@pytest.mark.parametrize("content_type", [
    "application/json", "Application/JSON", "application/json; charset=utf-8",
    'application/json;charset="UTF-8"'])
def test_json_in_utf8_is_served_whatever_the_spelling(
    server: httpx.Client, token: str, content_type: str
) -> None:
    response = server.post(INVOCATIONS, content=json.dumps({"inputs": {"customer_id": KEYS}}),
                           headers={**auth(token), "Content-Type": content_type})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("method", "path", "status", "code", "named"), [
    ("GET", "/no/such/path", 404, "ENDPOINT_NOT_FOUND", "no API found for 'GET /no/such/path'"),
    ("POST", "/serving-endpoints/churn_clf", 404, "ENDPOINT_NOT_FOUND", "POST /serving-endpo"),
    ("POST", INVOCATIONS + "/", 404, "ENDPOINT_NOT_FOUND", f"POST {INVOCATIONS}/"),
    ("GET", "/health/", 404, "ENDPOINT_NOT_FOUND", "GET /health/"),
    ("GET", INVOCATIONS, 405, "METHOD_NOT_ALLOWED", "takes POST"),
    ("DELETE", "/health", 405, "METHOD_NOT_ALLOWED", "takes GET"),
    ("GET", "/" + "x" * 60_000, 404, "ENDPOINT_NOT_FOUND", "xxx…"),
])
def test_framework_answers_come_in_the_project_error_shape_and_never_redirect(
    server: httpx.Client, token: str, method: str, path: str, status: int, code: str,
    named: str,
) -> None:
    response = server.request(method, path, headers={**auth(token), **JSON},
                              content=b'{"inputs": {"customer_id": [1]}}')

    assert "location" not in response.headers
    assert named in _error(response, status, code)
    assert len(response.content) < 1000, "a long path is cut, not echoed"


def test_a_request_the_http_parser_cannot_read_is_a_400_in_the_same_shape(
    server: httpx.Client
) -> None:
    port = int(str(server.base_url).rsplit(":", 1)[1].rstrip("/"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n")
        answer = b""
        while part := sock.recv(65536):
            answer += part

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"content-type: application/json" in head
    assert json.loads(body)["error_code"] == "BAD_REQUEST"
    assert "not a valid HTTP/1.1 request" in json.loads(body)["message"]
