"""What is served equals what batch scoring computes, and the split is deterministic per key."""

from __future__ import annotations

import random

import httpx
import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.domains.churn.training import LABEL_TIME
from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.ml.registry import model_uri, use_tracking
from lakehouse_ml.ml.scoring import score_batch
from lakehouse_ml.serving.routing import bucket
from tests.serving.conftest import INVOCATIONS, auth, logged

SHARE = 0.3  # the shared server's challenger share


def test_served_prediction_equals_batch_score_at_the_same_time(
    server: httpx.Client, token: str, lakehouse: Settings, lakehouse_catalog: Catalog,
    customers: list[int],
) -> None:
    keys = customers[:40]
    response = server.post(INVOCATIONS, json={"inputs": {"customer_id": keys}},
                           headers=auth(token))
    assert response.status_code == 200
    served = response.json()
    (row,) = logged(lakehouse_catalog, [response.headers["x-request-id"]]).iter_rows(named=True)
    assert row["model_versions"] == served["model_versions"] and row["rows"] == len(keys)
    assert set(served["model_versions"]) == {1, 2}, "both versions should serve some keys"

    use_tracking(lakehouse.mlflow_tracking_uri)
    client = FeatureEngineeringClient(lakehouse_catalog)
    name = MODEL.registered_name(lakehouse.env)
    frame = pl.DataFrame({"customer_id": keys, "version": served["model_versions"],
                          "served": served["predictions"]}).with_columns(
        pl.lit(row["as_of"], dtype=pl.Datetime("us", "UTC")).alias(LABEL_TIME))
    for (version,), rows in frame.group_by("version"):
        request = rows.select("customer_id", LABEL_TIME)
        batch = score_batch(client, model_uri(name, version), request)
        assert batch["probability"].to_list() == rows["served"].to_list(), version
    assert frame["served"].n_unique() > 10, "features should differ between customers"


def _versions(server: httpx.Client, token: str, keys: list[int]) -> dict[int, int]:
    response = server.post(INVOCATIONS, json={"dataframe_records": [{"customer_id": k}
                                                                    for k in keys]},
                           headers=auth(token))
    assert response.status_code == 200
    return dict(zip(keys, response.json()["model_versions"], strict=True))


def test_traffic_split_is_deterministic_per_key_and_matches_the_share(
    server: httpx.Client, token: str, customers: list[int]
) -> None:
    together = _versions(server, token, customers)
    shuffled = random.Random(1).sample(customers, len(customers))
    apart = {}
    for start in range(0, len(shuffled), 37):
        apart.update(_versions(server, token, shuffled[start:start + 37]))

    assert apart == together
    assert together == {k: 2 if bucket([k]) < SHARE else 1 for k in customers}
    share = sum(v == 2 for v in together.values()) / len(together)
    assert abs(share - SHARE) < 0.1, share
