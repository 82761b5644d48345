"""`lakehouse-ml serve --domain churn`, launched by the metastore admin, runs as its own
service principal, `churn-serving` (so does `serve` without `--domain`: churn is the only
declared domain), with exactly the grants the engine derives for it from
churn's declarations (`domain_grants.serving_plan`; churn's policy gives it none): it serves a
prediction end to end over real HTTP on 127.0.0.1 and writes its inference log, every record
its principal's, never the admin's; without any one of the grants it needs at startup (revoked
by an admin: the engine does not give it back) it refuses to start, in one line naming
principal, privilege and securable."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.domains import discover
from lakehouse_ml.governance import SERVICE_PRINCIPAL, Metastore
from lakehouse_ml.governance.audit import audit_log
from lakehouse_ml.governance.domain_grants import serving_plan
from lakehouse_ml.governance.principals import ENV_VAR, local_user
from lakehouse_ml.serving.identity import serving_identity
from lakehouse_ml.serving.tokens import TokenStore
from tests.serving.conftest import (
    INVOCATIONS,
    SERVE,
    STARTUP_SECONDS,
    auth,
    free_port,
    logged,
    serve_env,
    serve_process,
)

SERVING = "churn-serving"
CALLER = "churn-app"
MODEL = "dev.churn.churn_clf"
USES = {"SELECT": ("generateTemporaryTableCredential", "TABLE"),
        "MODIFY": ("generateTemporaryTableCredential", "TABLE"),
        "CREATE TABLE": ("createTable", "SCHEMA"), "EXECUTE": ("loadServedModel", "MODEL")}
"""The audited action that uses a privilege, and the kind of securable it names itself (a
privilege on a schema is used by an action on a table inside it)."""
UNRECORDED = {("CREATE TABLE", "SCHEMA dev.serving"), ("BROWSE", "CATALOG dev")}
"""Grants used by an allowed call that leaves no record: serving declares serving.tokens at
startup (CREATE TABLE IF NOT EXISTS, checked on the schema whether or not the table exists),
which exists, so the creation is a no-op; the refusal test below shows it is needed. BROWSE:
serving lists every table to hash their `pii` columns in its log (a listing is not audited);
the first test shows its catalog lists them only with it."""


@pytest.fixture
def governed(lakehouse_copy: Settings, monkeypatch: pytest.MonkeyPatch
             ) -> tuple[Settings, Metastore, str]:
    """A private copy of the lakehouse with churn's policy and its serving grants applied by
    the metastore admin (as `serve --domain churn` applies them: `serving_identity`), a caller
    allowed to query the model and its token; the processes started from here on are
    launched by the admin (no `$LAKEHOUSE_PRINCIPAL`)."""
    admin = local_user()
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert serving_identity(lakehouse_copy, "churn") == SERVING
    metastore = Metastore(lakehouse_copy.root, lakehouse_copy.env)
    metastore.add_principal(CALLER, SERVICE_PRINCIPAL, as_principal=admin)
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", CALLER, as_principal=admin)
    metastore.grant(["USE SCHEMA"], "SCHEMA", "churn", CALLER, as_principal=admin)
    metastore.grant(["EXECUTE"], "MODEL", "churn.churn_clf", CALLER, as_principal=admin)
    catalog = Catalog(lakehouse_copy.root, lakehouse_copy.env, principal=admin)
    token = TokenStore(catalog).create("app", principal=CALLER)
    shutil.rmtree(Path(lakehouse_copy.root) / "dev" / "churn" / "inference_log",
                  ignore_errors=True)  # so that serving creates it (another test may have)
    return lakehouse_copy, metastore, token


def _serving_records(settings: Settings) -> pl.DataFrame:
    """churn-serving's audit records: (action, securable or model, status)."""
    audit_log(settings.root, settings.env).flush()
    records = Catalog(settings.root, settings.env, governed=False).read(
        "governance.audit_log").filter(pl.col("user_identity").struct.field("email") == SERVING)
    return records.select(
        "action_name",
        pl.col("request_params").list.eval(pl.element().filter(
            pl.element().struct.field("key").is_in(["securable", "model"])
        ).struct.field("value")).list.first().alias("on"),
        pl.col("response").struct.field("status_code").alias("status"))


# without --domain, the only declared domain's (churn's) serving principal, exactly as with it
@pytest.mark.parametrize("domain", [["--domain", "churn"], []], ids=["domain", "no-domain"])
def test_serve_as_churn_serving_predicts_over_http_and_writes_its_inference_log(
        governed: tuple[Settings, Metastore, str], domain: list[str]) -> None:
    settings, metastore, token = governed
    # the redactor of its inference log is built from every table's pii columns, as its
    # catalog lists them: all of them with BROWSE, not silver.customers' email without
    def listed() -> set[str]:
        return {c for t in Catalog(settings.root, settings.env, principal=SERVING).tables()
                for c in t.info.pii_columns()}

    assert "email" in listed()
    metastore.revoke(["BROWSE"], "CATALOG", settings.env, SERVING, as_principal=local_user())
    assert "email" not in listed()
    metastore.grant(["BROWSE"], "CATALOG", settings.env, SERVING, as_principal=local_user())
    # the inference log is written at shutdown only, and so is the audit record of that write
    with serve_process(settings, *domain, "--log-flush-rows", "100000",
                       "--log-flush-seconds", "3600") as (url, _):
        answer = httpx.post(f"{url}{INVOCATIONS}", headers=auth(token), timeout=30,
                            json={"dataframe_records": [{"customer_id": 1}]})
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["predictions"]) == 1
        request_id = answer.headers["x-request-id"]
    admin = Catalog(settings.root, settings.env, principal=local_user())
    assert logged(admin, [request_id], timeout=1)["status_code"].to_list() == [200]
    records = _serving_records(settings)
    assert records.filter(pl.col("status") != 200).is_empty(), records
    assert records.filter(pl.col("action_name") == "loadServedModel").height >= 1  # as it
    used = set(records.select("action_name", "on").iter_rows())
    # no more: every grant derived for churn-serving is used by some allowed call (USE
    # CATALOG and USE SCHEMA by every call below them)
    derived = serving_plan(discover().declared["churn"], settings.env).grants
    assert {g["privilege"] for g in metastore.store.read()["grants"]
            if g["principal"] == SERVING} == {privilege for _, _, privilege in derived}
    for securable, _, privilege in derived:
        kind, _, full = securable.partition(" ")
        if privilege in ("USE CATALOG", "USE SCHEMA") or (privilege, securable) in UNRECORDED:
            continue
        action, on = USES[privilege]
        assert any(a == action and (o == full or o.startswith(f"{full}.") and on == kind)
                   for a, o in used), (privilege, securable, sorted(used))


# the privilege revoked, its securable, and the privilege the refusal names (serving sees
# every table's metadata by BROWSE, so a feature table without SELECT is refused its read)
@pytest.mark.parametrize(("privilege", "kind", "name", "securable", "named"), [
    ("SELECT", "TABLE", "gold.customer_recency", "TABLE dev.gold.customer_recency", "SELECT"),
    ("EXECUTE", "MODEL", "churn.churn_clf", f"MODEL {MODEL}", "EXECUTE"),
    ("CREATE TABLE", "SCHEMA", "serving", "SCHEMA dev.serving", "CREATE TABLE"),
])
def test_serve_without_one_of_its_grants_refuses_to_start_naming_it(
        governed: tuple[Settings, Metastore, str], privilege: str, kind: str, name: str,
        securable: str, named: str) -> None:
    settings, metastore, _ = governed
    metastore.revoke([privilege], kind, name, SERVING, as_principal=local_user())
    done = subprocess.run([SERVE, "serve", "--domain", "churn", "--port", str(free_port())],
                          env=serve_env(settings),
                          capture_output=True, text=True, timeout=STARTUP_SECONDS)
    assert done.returncode == 1, done.stderr
    message = done.stderr.strip()
    assert "\n" not in message, message
    assert f"'{SERVING}' does not have {named} on {securable}" in message, message
    denials = _serving_records(settings).filter(pl.col("status") == 403)
    assert not denials.is_empty(), "the denial is in the audit log"
