"""A revoke while requests are being served: the `EXECUTE` decision is cached per (principal,
registered model) until the governance state moves (one `stat` per request), so every request
sent after the revoke has committed is denied (the bound is zero requests), and each request
is one audit record with its answer. Real HTTP on 127.0.0.1, a real metastore on a private
copy of the lakehouse."""

from __future__ import annotations

import threading
import time

import httpx
import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.governance import SERVICE_PRINCIPAL, Metastore
from lakehouse_ml.governance.audit import audit_log
from lakehouse_ml.governance.principals import local_user
from lakehouse_ml.serving.authorization import QUERY, SERVICE
from lakehouse_ml.serving.tokens import TokenStore
from tests.serving.conftest import INVOCATIONS, auth, config, running

APP = "revoked-svc"
BODY = {"dataframe_records": [{"customer_id": 1}]}


def test_every_request_sent_after_a_revoke_is_denied_and_audited(
        lakehouse_copy: Settings) -> None:
    metastore = Metastore(lakehouse_copy.root, lakehouse_copy.env)
    metastore.add_principal(APP, SERVICE_PRINCIPAL)
    admin = local_user()
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", APP, as_principal=admin)
    metastore.grant(["USE SCHEMA", "EXECUTE"], "SCHEMA", "churn", APP, as_principal=admin)
    token = TokenStore(Catalog(lakehouse_copy.root, lakehouse_copy.env)).create(
        "revoked", principal=APP)
    sent: list[tuple[float, httpx.Response]] = []
    stop = threading.Event()
    revoked_at = float("inf")
    with running(config(lakehouse_copy)) as client:

        def load() -> None:
            while not stop.is_set():
                started = time.monotonic()
                sent.append((started, client.post(INVOCATIONS, json=BODY, headers=auth(token))))

        sender = threading.Thread(target=load)
        sender.start()
        try:
            deadline = time.monotonic() + 60
            while sum(r.status_code == 200 for _, r in list(sent)) < 20:
                assert time.monotonic() < deadline and sender.is_alive(), sent[-1:]
                time.sleep(0.01)
            metastore.revoke(["EXECUTE"], "SCHEMA", "churn", APP, as_principal=admin)
            revoked_at = time.monotonic()
            while sum(t > revoked_at for t, _ in list(sent)) < 20:
                assert time.monotonic() < deadline + 60 and sender.is_alive()
                time.sleep(0.01)
        finally:
            stop.set()
            sender.join()
    after = [r.status_code for t, r in sent if t > revoked_at]
    assert after and set(after) == {403}, f"served after the revoke: {after}"
    assert {r.status_code for t, r in sent if t <= revoked_at} <= {200, 403}

    audit_log(lakehouse_copy.root, lakehouse_copy.env).flush()
    records = Catalog(lakehouse_copy.root, lakehouse_copy.env).read(
        "governance.audit_log").filter((pl.col("service_name") == SERVICE)
                                       & (pl.col("action_name") == QUERY)).sort("sequence")
    ids = records["request_params"].map_elements(
        lambda ps: next((p["value"] for p in ps if p["key"] == "request_id"), None),
        return_dtype=pl.String).to_list()
    statuses = dict(zip(ids, records["response"].struct["status_code"], strict=True))
    answered = [(r.headers["x-request-id"], r.status_code) for _, r in sent]
    assert len(ids) == len(set(ids)), "one record per request"
    assert [(i, statuses.get(i)) for i, _ in answered] == answered
    assert [i for i in ids if i in dict(answered)] == [i for i, _ in answered], "in order"
