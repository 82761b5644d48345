"""Serving is governed: token → principal → `EXECUTE` on the registered model → one audit
record per request. Real HTTP on 127.0.0.1, a real metastore on a private copy of the
lakehouse, the audit log read back from `governance.audit_log`."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.governance import SERVICE_PRINCIPAL, Metastore, PermissionDenied
from lakehouse_ml.governance.audit import audit_log
from lakehouse_ml.governance.principals import local_user
from lakehouse_ml.serving.authorization import (
    LOAD,
    LOGIN,
    QUERY,
    SERVICE,
    UNAUTHENTICATED,
    ModelAccess,
)
from lakehouse_ml.serving.runtime import Runtime
from lakehouse_ml.serving.tokens import TokenStore
from tests.serving.conftest import INVOCATIONS, auth, config, running

APP = "app-svc"
BODY = {"dataframe_records": [{"customer_id": 1}]}


@pytest.fixture
def governed(lakehouse_copy: Settings) -> tuple[Settings, Metastore, str]:
    """A private lakehouse whose metastore declares the service principal `app-svc` (no
    grants yet), and a token acting as it."""
    metastore = Metastore(lakehouse_copy.root, lakehouse_copy.env)
    metastore.add_principal(APP, SERVICE_PRINCIPAL)
    catalog = Catalog(lakehouse_copy.root, lakehouse_copy.env)
    return lakehouse_copy, metastore, TokenStore(catalog).create("app", principal=APP)


@pytest.fixture
def client(governed: tuple[Settings, Metastore, str]) -> Iterator[httpx.Client]:
    with running(config(governed[0])) as client:
        yield client


def _grant_execute(metastore: Metastore) -> None:
    """Granted by the metastore admin (the OS user), whoever the test acts as."""
    admin = local_user()
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", APP, as_principal=admin)
    metastore.grant(["USE SCHEMA", "EXECUTE"], "SCHEMA", "churn", APP, as_principal=admin)


def _audited(settings: Settings, request_ids: list[str]) -> pl.DataFrame:
    """The serving audit records of these requests (by their x-request-id)."""
    audit_log(settings.root, settings.env).flush()
    records = Catalog(settings.root, settings.env).read("governance.audit_log").filter(
        pl.col("service_name") == SERVICE)
    ids = records["request_params"].map_elements(
        lambda ps: next((p["value"] for p in ps if p["key"] == "request_id"), None),
        return_dtype=pl.String)
    return records.with_columns(served_request=ids).filter(
        pl.col("served_request").is_in(request_ids))


def test_denied_without_execute_allowed_with_it_and_revocation_applies_at_once(
        governed: tuple[Settings, Metastore, str], client: httpx.Client) -> None:
    settings, metastore, token = governed
    model = MODEL.registered_name(settings.env)
    denied = client.post(INVOCATIONS, json=BODY, headers=auth(token))
    assert denied.status_code == 403
    assert denied.json() == {
        "error_code": "PERMISSION_DENIED",
        "message": f"permission denied: '{APP}' does not have EXECUTE on registered model "
                   f"{model}"}

    _grant_execute(metastore)
    allowed = client.post(INVOCATIONS, json=BODY, headers=auth(token))
    assert allowed.status_code == 200, allowed.text
    assert len(allowed.json()["predictions"]) == 1

    metastore.revoke(["EXECUTE"], "SCHEMA", "churn", APP)
    revoked_at = time.monotonic()
    again = client.post(INVOCATIONS, json=BODY, headers=auth(token))
    assert again.status_code == 403, "a revocation takes effect on the next request"
    assert time.monotonic() - revoked_at < 5

    records = _audited(settings, [r.headers["x-request-id"] for r in (denied, allowed, again)])
    by_request = {r["served_request"]: r for r in records.iter_rows(named=True)}
    assert [by_request[r.headers["x-request-id"]]["response"]["status_code"]
            for r in (denied, allowed, again)] == [403, 200, 403]
    reason = by_request[denied.headers["x-request-id"]]["response"]["error_message"]
    assert APP in reason and "EXECUTE" in reason and model in reason


def test_one_audit_record_per_request_with_its_principal_action_and_status(
        governed: tuple[Settings, Metastore, str], client: httpx.Client) -> None:
    settings, metastore, token = governed
    _grant_execute(metastore)
    answers = {
        200: client.post(INVOCATIONS, json=BODY, headers=auth(token)),
        400: client.post(INVOCATIONS, content=b'{"dataframe_records": 7}',
                         headers={**auth(token), "content-type": "application/json"}),
        401: client.post(INVOCATIONS, json=BODY, headers=auth(token + "x")),
        404: client.post("/serving-endpoints/nope/invocations", json=BODY,
                         headers=auth(token)),
    }
    assert {s: a.status_code for s, a in answers.items()} == {s: s for s in answers}
    ids = {a.headers["x-request-id"]: s for s, a in answers.items()}
    records = _audited(settings, list(ids))
    assert sorted(records["served_request"].to_list()) == sorted(ids), "one record each"
    for record in records.iter_rows(named=True):
        status = ids[record["served_request"]]
        assert record["response"]["status_code"] == status
        assert record["source"] == "serving"
        assert record["event_date"] == record["event_time"].date()
        if status == 401:  # the authentication failure: no principal, the token never stored
            assert (record["user_identity"]["email"], record["action_name"]) == (
                UNAUTHENTICATED, LOGIN)
            assert record["response"]["error_message"] == "unknown or revoked token"
        else:
            assert (record["user_identity"]["email"], record["action_name"]) == (APP, QUERY)
        assert (record["response"]["error_message"] is None) == (status == 200)
        assert token.split("_", 2)[2] not in str(record)  # the secret may hold "_"


def test_the_serving_principal_needs_execute_to_load_a_model(
        governed: tuple[Settings, Metastore, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Every other privilege serving uses (reading feature tables and tokens, writing its
    logs) is granted on the catalog: EXECUTE alone decides."""
    settings, metastore, _ = governed
    admin = local_user()
    metastore.grant(["USE CATALOG", "USE SCHEMA", "SELECT", "MODIFY", "CREATE TABLE"],
                    "CATALOG", "dev", APP, as_principal=admin)
    monkeypatch.setenv("LAKEHOUSE_PRINCIPAL", APP)
    model = MODEL.registered_name(settings.env)
    with pytest.raises(PermissionDenied, match=f"'{APP}' does not have EXECUTE on MODEL "
                                               f"{model}$"):
        Runtime(config(settings))
    metastore.grant(["EXECUTE"], "SCHEMA", "churn", APP, as_principal=admin)
    runtime = Runtime(config(settings))  # loaded (not started: nothing to stop but its logs)
    for inference_log in set(runtime.logs.values()):
        inference_log.close()
    audit_log(settings.root, settings.env).flush()
    records = Catalog(settings.root, settings.env).read("governance.audit_log")
    loads = records.filter((pl.col("action_name") == LOAD)
                           & (pl.col("user_identity").struct["email"] == APP)).sort("sequence")
    assert loads["response"].struct["status_code"].to_list() == [403, 200, 200]


def test_a_decision_is_kept_until_the_governance_state_changes(
        governed: tuple[Settings, Metastore, str]) -> None:
    """Cached: microseconds per check (a decision from the metastore costs ~1 ms)."""
    settings, metastore, _ = governed
    access = ModelAccess(settings.root, settings.env)
    model = MODEL.registered_name(settings.env)
    assert access.check(APP, model) is not None
    time.sleep(0.06)  # the state folder has settled
    assert access.check(APP, model) is not None
    started = time.process_time()
    for _ in range(500):
        access.check(APP, model)
    assert time.process_time() - started < 0.1, "500 checks should take microseconds each"
    _grant_execute(metastore)
    assert access.check(APP, model) is None
    assert access.check("nobody", model) is not None
