"""Alias moves (promotion, challenger, rollback) and token creation/revocation each leave one
audit record of their own, with Databricks' action names, as the acting principal; a token's
secret is never in it."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from mlflow import MlflowClient

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.governance.audit import audit_log
from lakehouse_ml.governance.principals import local_user
from lakehouse_ml.ml.deploy import ALIAS_ACTION, deploy, rollback
from lakehouse_ml.ml.records import record_validation
from lakehouse_ml.ml.retraining import VALIDATION_STATUS
from lakehouse_ml.serving.tokens import CREATE_ACTION, REVOKE_ACTION, TokenStore


def records(catalog: Catalog, action: str) -> list[dict]:
    audit_log(catalog.root, catalog.env).flush()
    rows = catalog.read("governance.audit_log").sort("sequence")
    return (rows.filter(pl.col("action_name") == action)
            .select(user=pl.col("user_identity").struct.field("email"),
                    service="service_name", params="request_params",
                    status=pl.col("response").struct.field("status_code"))
            .with_columns(params=pl.col("params").list.eval(
                pl.concat_str(pl.element().struct.field("key"), pl.lit("="),
                              pl.element().struct.field("value"))))
            .to_dicts())


def test_token_creation_and_revocation_are_audited_without_the_secret(tmp_path: Path
                                                                      ) -> None:
    catalog = Catalog(str(tmp_path / "lake"), "dev")
    store = TokenStore(catalog)
    token = store.create("app", principal="churn-serving")
    store.revoke("app")
    token_id, secret = token.split("_", 2)[1:]
    created, revoked = records(catalog, CREATE_ACTION), records(catalog, REVOKE_ACTION)
    assert [(r["user"], r["service"], r["status"]) for r in created + revoked] == [
        (local_user(), "accounts", 200), (local_user(), "accounts", 200)]
    assert sorted(created[0]["params"]) == sorted(["principal=churn-serving",
                                                   "id=" + token_id, "name=app"])
    assert sorted(revoked[0]["params"]) == ["id=" + token_id, "name=app"]
    table = catalog.read("governance.audit_log")
    assert secret not in str(table.to_dicts())


def test_each_alias_move_is_one_audit_record(tmp_path: Path) -> None:
    catalog = Catalog(str(tmp_path / "lake"), "dev")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    client.create_registered_model("dev.ml.m")
    for _ in range(2):
        version = client.create_model_version("dev.ml.m", source=str(tmp_path))
        client.set_model_version_tag("dev.ml.m", version.version, VALIDATION_STATUS, "passed")
        record_validation(catalog, "ml", "dev.ml.m", int(version.version), "run", [])
    deploy(catalog, client, "ml", "dev.ml.m", 1, True, "ml-pipeline")
    deploy(catalog, client, "ml", "dev.ml.m", 2, True, "ml-pipeline")
    rollback(catalog, client, "ml", "dev.ml.m", "ann", "bad predictions")
    moves = [(r["user"], r["service"], sorted(p for p in r["params"]
                                               if not p.startswith("reason=")))
             for r in records(catalog, ALIAS_ACTION)]
    alias = ["alias={}", "from_version={}", "full_name_arg=dev.ml.m", "version_num={}"]

    def move(name: str, before: int | str, after: int) -> list[str]:
        return sorted(a.format(x) for a, x in zip(alias, (name, before, "", after),
                                                     strict=True))

    assert moves == [(local_user(), "unityCatalog", p) for p in (
        move("champion", "", 1), move("previous_champion", "", 1), move("champion", 1, 2),
        move("champion", 2, 1), move("previous_champion", 1, 2))]
