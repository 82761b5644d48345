"""An alias move to the version the alias already points to changes nothing: no MLflow
change, no `alias_changes` row and no `setRegisteredModelAlias` record; the right to move it
(Catalog.check_model_owner) is still checked first, so a caller without it is denied (403)
whether or not the move would have changed anything."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from mlflow import MlflowClient

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.governance import Metastore, PermissionDenied
from lakehouse_ml.ml.deploy import ALIAS_ACTION, deploy, rollback
from lakehouse_ml.ml.registry import CHALLENGER, CHAMPION, PREVIOUS, alias_version
from lakehouse_ml.ml.retraining import VALIDATION_STATUS
from tests.governance.test_enforcement import audited, params

MODEL = "dev.silver.clf"
DENIED = "permission denied: 'bob' does not have MANAGE on MODEL dev.silver.clf"


@pytest.fixture
def client(metastore: Metastore, tmp_path: Path) -> MlflowClient:
    """Versions 1 and 2 (passed) and 3 (failed) of MODEL, declared, owned by the admin; bob
    may use dev.silver and write its tables, nothing on the model."""
    metastore.create("MODEL", MODEL)
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", "bob")
    metastore.grant(["USE SCHEMA", "SELECT", "MODIFY", "CREATE TABLE"], "SCHEMA", "silver",
                    "bob")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow = MlflowClient(uri, uri)
    mlflow.create_registered_model(MODEL)
    for status in ("passed", "passed", "failed"):
        version = mlflow.create_model_version(MODEL, source=str(tmp_path)).version
        mlflow.set_model_version_tag(MODEL, version, VALIDATION_STATUS, status)
    return mlflow


def _trail(catalog: Catalog) -> tuple[list[tuple], list[tuple]]:
    """(alias, from, to) of the alias history; (user, status, alias, version) of the alias
    and permission records."""
    history = (catalog.read("silver.alias_changes").sort("changed_at")
               .select("alias", "from_version", "to_version").rows()
               if catalog.exists("silver.alias_changes") else [])
    rows = audited(catalog.root).filter(pl.col("action_name").is_in(
        [ALIAS_ACTION, "checkPermission"]))
    return history, [(r["user"], r["status"], params(r).get("alias", ""),
                      params(r).get("version_num", "")) for r in rows.to_dicts()]


def test_a_move_to_where_the_alias_is_records_nothing(metastore: Metastore,
                                                      client: MlflowClient) -> None:
    catalog = Catalog(metastore.root, "dev")
    deploy(catalog, client, "silver", MODEL, 3, False, actor="t")  # challenger 3
    deploy(catalog, client, "silver", MODEL, 1, True, actor="t")  # champion 1
    deploy(catalog, client, "silver", MODEL, 2, True, actor="t")  # champion 2, previous 1
    before = _trail(catalog)
    assert [row[:2] for row in before[1]] == [(catalog.principal, 200)] * 4
    assert deploy(catalog, client, "silver", MODEL, 3, False, actor="t") == CHALLENGER
    assert deploy(catalog, client, "silver", MODEL, 2, True, actor="t") == CHAMPION
    assert _trail(catalog) == before
    assert [alias_version(client, MODEL, a) for a in (CHAMPION, PREVIOUS, CHALLENGER)] == [
        2, 1, 3]


def test_a_rollback_whose_previous_is_there_already_moves_only_the_champion(
        metastore: Metastore, client: MlflowClient) -> None:
    catalog = Catalog(metastore.root, "dev")
    deploy(catalog, client, "silver", MODEL, 1, True, actor="t")
    deploy(catalog, client, "silver", MODEL, 2, True, actor="t")  # previous 1
    client.set_registered_model_alias(MODEL, PREVIOUS, "2")  # set outside the pipeline
    history = _trail(catalog)[0]
    assert rollback(catalog, client, "silver", MODEL, "t", "bad", to_version=1) == 1
    assert _trail(catalog)[0] == [*history, (CHAMPION, 2, 1)]  # previous_champion stays 2
    assert alias_version(client, MODEL, PREVIOUS) == 2


@pytest.mark.parametrize("passed", [True, False])
def test_a_no_op_move_without_the_right_is_denied_and_audited(
        metastore: Metastore, client: MlflowClient, passed: bool) -> None:
    admin = Catalog(metastore.root, "dev")
    version = 1 if passed else 3
    deploy(admin, client, "silver", MODEL, version, passed, actor="t")
    before = _trail(admin)
    bob = Catalog(metastore.root, "dev", principal="bob")
    with pytest.raises(PermissionDenied, match=DENIED):
        deploy(bob, client, "silver", MODEL, version, passed, actor="bob")
    history, records = _trail(admin)
    assert history == before[0]
    assert records == [*before[1], ("bob", 403, "", "")]


@pytest.mark.parametrize("to_version", [None, 2, 3, 9])
def test_a_rollback_without_the_right_is_denied_before_any_refusal(
        metastore: Metastore, client: MlflowClient, to_version: int | None) -> None:
    """Nothing to roll back to, the champion already, not validated, not registered: each is
    a refusal only to who may move the aliases; anyone else is denied the same way."""
    admin = Catalog(metastore.root, "dev")
    deploy(admin, client, "silver", MODEL, 2, True, actor="t")  # champion 2, no earlier one
    before = _trail(admin)
    bob = Catalog(metastore.root, "dev", principal="bob")
    with pytest.raises(PermissionDenied, match=DENIED):
        rollback(bob, client, "silver", MODEL, "bob", "bad", to_version=to_version)
    history, records = _trail(admin)
    assert history == before[0]
    assert records == [*before[1], ("bob", 403, "", "")]
