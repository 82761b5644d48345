"""The inference log keeps what it needs and no more: secrets never, PII hashed, large bodies
as a prefix plus their sha256, every 401 (without its token); and while its table cannot be
written, a bounded buffer that sheds and says so on /health."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import httpx

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.serving.tokens import TokenStore
from tests.serving.conftest import INVOCATIONS, auth, config, logged, running

EMAIL, PASSWORD, API_KEY = "ann@example.com", "hunter2-secret", "k-4411-secret"
REDACTED = "[redacted]"


def _sha256(text: str | bytes) -> str:
    return hashlib.sha256(text if isinstance(text, bytes) else text.encode()).hexdigest()


def _stored(server: httpx.Client, token: str, catalog: Catalog, body: bytes
            ) -> tuple[int, dict]:
    response = server.post(INVOCATIONS, content=body,
                           headers={**auth(token), "Content-Type": "application/json"})
    (row,) = logged(catalog, [response.headers["x-request-id"]]).iter_rows(named=True)
    return response.status_code, row


def test_secrets_are_dropped_and_pii_columns_hashed_in_every_format(
    server: httpx.Client, token: str, lakehouse_catalog: Catalog
) -> None:
    assert "email" in lakehouse_catalog.describe("silver.customers").info.column_tags
    bodies = [
        {"dataframe_records": [{"customer_id": 5, "email": EMAIL, "password": PASSWORD,
                                "api_key": API_KEY}]},
        {"dataframe_split": {"columns": ["customer_id", "Email", "x-api-key", "passwd"],
                             "data": [[5, EMAIL, API_KEY, PASSWORD]]}},
        {"inputs": {"customer_id": [5], "email": [EMAIL], "Authorization": [API_KEY],
                    "password": [PASSWORD]}},
    ]
    for body in bodies:
        status, row = _stored(server, token, lakehouse_catalog, json.dumps(body).encode())
        assert status == 400, "unexpected columns are refused, and still logged"
        text = json.dumps(row, default=str)
        assert PASSWORD not in text and API_KEY not in text and EMAIL not in text, row
        assert f"sha256:{_sha256(EMAIL)}" in row["request"]
        assert row["request"].count(REDACTED) == 2


def test_large_bodies_are_kept_as_a_prefix_and_their_sha256(
    server: httpx.Client, token: str, lakehouse_catalog: Catalog, customers: list[int]
) -> None:
    body = json.dumps({"inputs": {"customer_id": (customers * 20)[:5000]}}).encode()
    status, row = _stored(server, token, lakehouse_catalog, body)
    assert status == 200 and row["rows"] == 5000
    cap = config(Settings("", "", "dev", "")).log_body_bytes
    for stored in (row["request"], row["response"]):
        assert len(stored) < cap + 200 and "truncated" in stored
    assert row["request"].startswith(body[:100].decode())
    assert f"{len(body)} bytes, sha256 {_sha256(body)}" in row["request"]
    unparsed = b'{"inputs": [' + b"1," * 20_000  # not JSON: only its length and digest
    status, row = _stored(server, token, lakehouse_catalog, unparsed)
    assert status == 400
    assert row["request"] == f"[not JSON: {len(unparsed)} bytes, sha256 {_sha256(unparsed)}]"


def test_every_401_is_recorded_without_its_token(
    server: httpx.Client, lakehouse_catalog: Catalog
) -> None:
    attempts = [{}, auth("lhm_0123456789abcdef_guessedsecretvalue"), {"Authorization": "x"}]
    ids = []
    for headers in attempts:
        response = server.post(INVOCATIONS, json={"inputs": {"customer_id": [1]}},
                               headers=headers)
        assert response.status_code == 401
        ids.append(response.headers["x-request-id"])
    rows = logged(lakehouse_catalog, ids)
    assert rows.height == 3
    assert rows["status_code"].to_list() == [401] * 3
    assert rows["caller"].null_count() == 3 and rows["request"].null_count() == 3
    assert "guessedsecretvalue" not in json.dumps(rows.rows(), default=str)


def test_a_huge_endpoint_name_is_logged_and_echoed_cut(
    server: httpx.Client, token: str, lakehouse_catalog: Catalog
) -> None:
    path = "/serving-endpoints/" + "e" * 60_000 + "/invocations"
    anyone = server.post(path, json={"inputs": {"customer_id": [1]}})
    caller = server.post(path, json={"inputs": {"customer_id": [1]}}, headers=auth(token))

    assert (anyone.status_code, caller.status_code) == (401, 404)
    assert len(caller.content) < 2_000, "the 404 names the endpoint cut"
    rows = logged(lakehouse_catalog, [anyone.headers["x-request-id"]])
    assert rows["endpoint"].to_list() == ["e" * 255 + "…"]


def _break(table: Path) -> Path:
    """Make a Delta table unwritable: its log directory replaced by a file."""
    log = table / "_delta_log"
    moved = log.rename(table / "_delta_log.away")
    log.write_text("not a directory")
    return moved


def test_a_log_that_cannot_be_written_sheds_with_a_counter_on_health(
    lakehouse_copy: Settings
) -> None:
    token = TokenStore(Catalog(lakehouse_copy.root, lakehouse_copy.env)).create("shed-test")
    catalog = Catalog(lakehouse_copy.root, lakehouse_copy.env)
    table = Path(catalog.location("churn.inference_log"))
    budget = 64 * 1024
    body = {"inputs": {"customer_id": [1]}}
    with running(config(lakehouse_copy, log_buffer_bytes=budget, log_flush_rows=10)) as client:
        moved = _break(table)
        try:
            statuses = {client.post(INVOCATIONS, json=body, headers=auth(token)).status_code
                        for _ in range(600)}
            health = client.get("/health").json()
        finally:
            (table / "_delta_log").unlink()
            moved.rename(table / "_delta_log")
        assert statuses == {200}, "requests are served while the log sheds"
        (state,) = health["inference_logs"]
        assert health["status"] == "degraded"
        assert state["shed_rows"] > 0 and state["buffered_bytes"] <= budget, state
        assert state["buffered_rows"] + state["shed_rows"] == 600, state
        deadline = time.monotonic() + 10
        while client.get("/health").json()["inference_logs"][0]["buffered_rows"]:
            assert time.monotonic() < deadline, "the buffer is written once the table is back"
            time.sleep(0.2)
    written = catalog.read("churn.inference_log").filter(caller="shed-test")
    assert written.height == 600 - state["shed_rows"]
