"""Serving boundaries (issue 8): a token is valid only with its `lhm_` prefix, and the columns
of a records payload are those of all its rows, not of the first one."""

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
from lakehouse_ml.serving.payload import parse
from lakehouse_ml.serving.tokens import PREFIX, TokenStore, TokenVerifier
from tests.serving.conftest import INVOCATIONS, auth

BODY = {"dataframe_records": [{"customer_id": 5}]}


def variants(token: str) -> list[str]:
    """The token with its prefix left out, replaced, or in another case."""
    rest = token.removeprefix(f"{PREFIX}_")
    assert rest != token
    return [rest, f"xyz_{rest}", f"{PREFIX.upper()}_{rest}", f"_{rest}", f"{PREFIX}{rest}"]


def test_a_token_without_its_prefix_is_refused(catalog: Catalog) -> None:
    token = TokenStore(catalog).create("app")
    verifier = TokenVerifier(TokenStore(catalog))
    assert verifier.verify(token) == "app"
    assert [verifier.verify(v) for v in variants(token)] == [None] * 5


def test_a_token_without_its_prefix_is_a_401(server: httpx.Client, token: str) -> None:
    assert server.post(INVOCATIONS, json=BODY, headers=auth(token)).status_code == 200
    for variant in variants(token):
        assert server.post(INVOCATIONS, json=BODY, headers=auth(variant)).status_code == 401


@pytest.mark.parametrize("kind", ["dataframe_records", "instances", "inputs"])
def test_records_columns_are_those_of_every_row_missing_ones_null(kind: str) -> None:
    rows = [{"a": 1}, {"a": 2, "b": "x"}, {"c": True}]
    assert parse(json.dumps({kind: rows}).encode()) == {
        "a": [1, 2, None], "b": [None, "x", None], "c": [None, None, True]}


def test_a_row_with_features_the_first_row_lacks_is_refused_naming_them(
    server: httpx.Client, token: str
) -> None:
    """Only the second row carries a feature: the request carries some features but not all,
    which is a 400 (were columns taken from the first row, it would be scored as keys only)."""
    body = {"dataframe_records": [{"customer_id": 5}, {"customer_id": 8, "tenure_days": 3}]}
    response = server.post(INVOCATIONS, json=body, headers=auth(token))
    assert response.status_code == 400
    assert "some features but not all" in response.json()["message"]


def test_a_key_only_row_beside_full_rows_is_scored_with_null_features(
    server: httpx.Client, token: str, lakehouse_catalog: Catalog, customers: list[int]
) -> None:
    """Columns are the union of the rows': beside a row carrying every feature, key-only rows
    have those features null, and are scored as such, not looked up."""
    rows = pl.DataFrame({"customer_id": customers[:1],
                         TRAINING_SET.time_column: [datetime.now(UTC)]},
                        schema_overrides={TRAINING_SET.time_column: pl.Datetime("us", "UTC")})
    looked_up = FeatureEngineeringClient(lakehouse_catalog).lookup_online(
        rows, list(TRAINING_SET.feature_lookups))
    features = MODEL.feature_columns(looked_up.columns)
    full = looked_up.select("customer_id", *features).to_dicts()[0]
    keys = customers[1:21]

    def scores(rows: list[dict]) -> list[float]:
        response = server.post(INVOCATIONS, json={"dataframe_records": rows},
                               headers=auth(token))
        assert response.status_code == 200, response.text
        return response.json()["predictions"]

    mixed = scores([full, *({"customer_id": k} for k in keys)])
    nulls = scores([full, *({"customer_id": k, **dict.fromkeys(features)} for k in keys)])
    looked_up_alone = scores([{"customer_id": k} for k in keys])
    assert mixed == nulls
    assert mixed[1:] != looked_up_alone
