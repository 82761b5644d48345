"""Every accepted payload format scores the same rows alike; bad payloads are refused by name."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.domains.churn.training import TRAINING_SET
from lakehouse_ml.features import FeatureEngineeringClient
from tests.serving.conftest import INVOCATIONS, auth

KEYS = [3, 5, 8, 13]


def formats(keys: list[int]) -> dict[str, dict]:
    rows = [{"customer_id": k} for k in keys]
    return {
        "dataframe_records": {"dataframe_records": rows},
        "dataframe_split": {"dataframe_split": {"columns": ["customer_id"],
                                                "data": [[k] for k in keys]}},
        "instances": {"instances": rows},
        "inputs_records": {"inputs": rows},
        "inputs_columns": {"inputs": {"customer_id": keys}},
    }


def test_every_format_gives_one_prediction_per_row_in_order(
    server: httpx.Client, token: str
) -> None:
    answers = {}
    for name, body in formats(KEYS).items():
        response = server.post(INVOCATIONS, json=body, headers=auth(token))
        assert response.status_code == 200, (name, response.text)
        answers[name] = response.json()
    reference = answers["dataframe_records"]
    assert len(reference["predictions"]) == len(KEYS)
    assert all(0.0 <= p <= 1.0 for p in reference["predictions"])
    assert all(answer == reference for answer in answers.values()), answers
    one_by_one = [
        server.post(INVOCATIONS, json={"dataframe_records": [{"customer_id": k}]},
                    headers=auth(token)).json()["predictions"][0]
        for k in KEYS
    ]
    assert one_by_one == reference["predictions"]


def test_full_feature_rows_score_like_their_keys(
    server: httpx.Client, token: str, lakehouse_catalog: Catalog
) -> None:
    now = datetime.now(UTC)
    rows = pl.DataFrame({"customer_id": KEYS, TRAINING_SET.time_column: [now] * len(KEYS)},
                        schema_overrides={TRAINING_SET.time_column: pl.Datetime("us", "UTC")})
    features = FeatureEngineeringClient(lakehouse_catalog).lookup_online(
        rows, list(TRAINING_SET.feature_lookups))
    served = ["customer_id", *MODEL.feature_columns(features.columns)]
    body = {"dataframe_split": {"columns": served, "data": features.select(served).rows()}}
    full = server.post(INVOCATIONS, json=body, headers=auth(token))
    keyed = server.post(INVOCATIONS, json=formats(KEYS)["dataframe_records"], headers=auth(token))
    assert full.status_code == 200, full.text
    scores = ("predictions", "model_versions")
    assert [full.json()[k] for k in scores] == [keyed.json()[k] for k in scores]
    assert full.json()["unmatched_lookups"] == [[]] * len(KEYS), "full rows need no lookup"


@pytest.mark.parametrize(("body", "problem"), [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (json.dumps({"rows": [{"customer_id": 1}]}).encode(), "unknown payload format"),
    (json.dumps({"instances": [], "inputs": []}).encode(), "unknown payload format"),
    (json.dumps({"dataframe_records": [{"customer": 1}]}).encode(),
     "missing key column(s) ['customer_id']"),
    (json.dumps({"dataframe_records": [{"customer_id": "7"}]}).encode(),
     "column 'customer_id' takes integer values, got '7'"),
    (json.dumps({"inputs": {"customer_id": [2**63]}}).encode(),
     f"column 'customer_id' takes integer values, got {2**63} (int, out of the column's range)"),
    (json.dumps({"inputs": {"customer_id": [1, None]}}).encode(),
     "key column 'customer_id' is null in row 1"),
    (json.dumps({"dataframe_split": {"columns": ["customer_id"], "data": [[1, 2]]}}).encode(),
     "row 0 has 2 values for 1 columns"),
    (json.dumps({"dataframe_records": []}).encode(), "no rows"),
    (json.dumps({"dataframe_records": [{"customer_id": 1, "tenure_days": 3}]}).encode(),
     "some features but not all"),
    (json.dumps({"dataframe_records": [{"customer_id": 1, "label_timestamp": "x"}]}).encode(),
     "unexpected column(s) ['label_timestamp']"),
])
def test_malformed_payload_is_a_400_naming_the_problem(
    server: httpx.Client, token: str, body: bytes, problem: str
) -> None:
    response = server.post(INVOCATIONS, content=body,
                           headers={**auth(token), "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error_code"] == "BAD_REQUEST"
    assert problem in response.json()["message"]


def test_unknown_endpoint_is_a_404(server: httpx.Client, token: str) -> None:
    response = server.post("/serving-endpoints/no_such_model/invocations",
                           json=formats(KEYS)["instances"], headers=auth(token))
    assert response.status_code == 404
    assert "no_such_model" in response.json()["message"]
