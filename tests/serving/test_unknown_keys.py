"""A key no feature table knows is never scored as if it were known: flagged per row (and in
the inference log) by default, refused with the keys named under `--unknown-keys refuse`."""

from __future__ import annotations

import httpx

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn.training import TRAINING_SET
from lakehouse_ml.features import FeatureLookup
from tests.serving.conftest import INVOCATIONS, auth, config, logged, running

UNKNOWN = 99_999_999
TABLES = sorted(s.table_name for s in TRAINING_SET.feature_lookups
                if isinstance(s, FeatureLookup))


def _known(server: httpx.Client, token: str, customers: list[int]) -> int:
    """A customer every feature table has a row for."""
    answer = server.post(INVOCATIONS, json={"inputs": {"customer_id": customers}},
                         headers=auth(token)).json()
    return next(k for k, tables in zip(customers, answer["unmatched_lookups"], strict=True)
                if not tables)


def test_an_unknown_key_is_scored_but_flagged_and_logged(
    server: httpx.Client, token: str, customers: list[int], lakehouse_catalog: Catalog
) -> None:
    known = _known(server, token, customers)
    body = {"dataframe_records": [{"customer_id": known}, {"customer_id": UNKNOWN},
                                  {"customer_id": known}]}
    response = server.post(INVOCATIONS, json=body, headers=auth(token))
    assert response.status_code == 200
    answer = response.json()
    assert len(answer["predictions"]) == 3
    assert answer["unmatched_lookups"][0] == answer["unmatched_lookups"][2] == []
    assert sorted(answer["unmatched_lookups"][1]) == TABLES
    (row,) = logged(lakehouse_catalog, [response.headers["x-request-id"]]).iter_rows(named=True)
    assert row["unmatched_rows"] == [1]


def test_refuse_mode_names_the_unknown_keys_and_serves_known_ones(
    lakehouse: Settings, token: str, server: httpx.Client, customers: list[int]
) -> None:
    known = _known(server, token, customers)
    with running(config(lakehouse, unknown_keys="refuse")) as client:
        mixed = client.post(INVOCATIONS, headers=auth(token), json={
            "dataframe_records": [{"customer_id": known}, {"customer_id": UNKNOWN}]})
        fine = client.post(INVOCATIONS, headers=auth(token),
                           json={"dataframe_records": [{"customer_id": known}]})
    assert mixed.status_code == 422
    assert mixed.json()["error_code"] == "UNKNOWN_KEYS"
    message = mixed.json()["message"]
    assert f"customer_id={UNKNOWN} (row 1): no row in " in message
    assert all(table in message for table in TABLES)
    assert f"customer_id={known}" not in message
    assert fine.status_code == 200 and fine.json()["unmatched_lookups"] == [[]]
