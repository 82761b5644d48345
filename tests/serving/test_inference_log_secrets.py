"""Secrets are never stored in the inference log, whatever names or shapes carry them: the
project's tokens and `Bearer` credentials inside any string, `[name, value]` pairs, names
disguised with zero-width or full-width characters, and parts of a body that nothing names
(`params`, a split frame's `index`)."""

from __future__ import annotations

import json

import httpx

from lakehouse_ml.catalog import Catalog
from tests.serving.conftest import INVOCATIONS, auth, logged

SECRETS = ["hunter0", "hunterK", "hunterM", "hunterZ", "hunterF", "hunterP", "hunterQ"]


def _bodies(token: str) -> list[object]:
    return [
        {"dataframe_records": [{"customer_id": 5, "note": f"my token is {token}",
                                "h": ["Authorization: Bearer hunter0"]}]},
        {"dataframe_records": [{"customer_id": 5}], "params": [["password", "hunterK"]]},
        {"dataframe_records": [{"customer_id": 5}], "params": {"note": f"token {token}"}},
        {"dataframe_split": {"columns": ["customer_id"], "data": [[5]], "index": ["hunterM"]}},
        {"dataframe_records": [{"customer_id": 5, "pass\u200bword": "hunterZ",
                                "ｐａｓｓｗｏｒｄ": "hunterF", "x": [["api-key", "hunterP"]],
                                "y": "password=hunterQ"}]},
    ]


def test_no_secret_reaches_the_inference_log_by_value_pair_disguised_name_or_unnamed_part(
    server: httpx.Client, token: str, lakehouse_catalog: Catalog
) -> None:
    ids, statuses = [], []
    for body in _bodies(token):
        response = server.post(INVOCATIONS, json=body, headers=auth(token))
        ids.append(response.headers["x-request-id"])
        statuses.append(response.status_code)
    rows = logged(lakehouse_catalog, ids)
    assert rows.height == len(ids)
    stored = json.dumps(rows["request"].to_list(), ensure_ascii=False)
    secret = token.split("_", 2)[2]  # the secret may hold "_"
    assert secret not in stored and token[:20] not in stored, stored
    assert not [s for s in SECRETS if s in stored], stored
    assert stored.count("[redacted]") >= 9, stored
    assert "my token is [redacted]" in stored, "the rest of a string is kept"
    assert statuses[1] == 400, "params must be an object (MLflow's scoring protocol)"
    assert statuses[3] == 200, "a split frame may carry an index (pandas' split orient)"


def test_params_not_an_object_is_refused_naming_it(
    server: httpx.Client, token: str
) -> None:
    response = server.post(INVOCATIONS, headers=auth(token), json={
        "dataframe_records": [{"customer_id": 5}], "params": [["a", 1]]})
    assert response.status_code == 400
    assert "params must be an object" in response.json()["message"]
