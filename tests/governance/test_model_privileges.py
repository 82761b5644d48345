"""Registering a model version and moving an alias need the right to change the registered
model (its owner, or MANAGE on it, with USE CATALOG + USE SCHEMA; issue 13): denied without
it (PermissionDenied naming principal, privilege and model; a 403 record; nothing moved),
allowed with it (one record of the action); and `createRegisteredModel` is recorded only when
a model was created."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from mlflow import MlflowClient

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.catalog.catalog import VERSION_ACTION
from lakehouse_ml.governance import GROUP, Metastore, PermissionDenied
from lakehouse_ml.ml.deploy import ALIAS_ACTION, deploy
from lakehouse_ml.ml.registry import CHAMPION, alias_version
from tests.governance.test_enforcement import audited, params

MODEL = "dev.silver.clf"
DENIED = "permission denied: 'bob' does not have MANAGE on MODEL dev.silver.clf"


@pytest.fixture
def owned_by_ml(root: str, metastore: Metastore) -> Metastore:
    """dev.silver.clf declared, owned by the group ml; bob may use the catalog and schema and
    write silver's tables (the alias history), nothing on the model."""
    metastore.add_principal("ml", GROUP)
    metastore.create("MODEL", MODEL, owner="ml")
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", "bob")
    metastore.grant(["USE SCHEMA", "SELECT", "MODIFY", "CREATE TABLE"], "SCHEMA", "silver",
                    "bob")
    return metastore


def _actions(root: str, since: int, user: str = "bob") -> list[tuple[str, int, str]]:
    """(action, status, securable) of `user`'s records after sequence `since`."""
    rows = audited(root).filter(pl.col("sequence") > since, pl.col("user") == user)
    return [(r["action_name"], r["status"], params(r).get("securable")
             or params(r).get("full_name_arg", "")) for r in rows.to_dicts()]


def _last(root: str) -> int:
    return int(audited(root)["sequence"].max() or -1)


def test_registering_a_version_needs_ownership_or_manage(root: str, owned_by_ml: Metastore
                                                         ) -> None:
    bob = Catalog(root, "dev", principal="bob")
    start = _last(root)
    with pytest.raises(PermissionDenied, match=DENIED):
        bob.register_model(MODEL)
    assert _actions(root, start) == [("checkPermission", 403, "MODEL dev.silver.clf")]
    assert audited(root).filter(pl.col("status") == 403)["error"].to_list()[-1].startswith(
        DENIED)

    owned_by_ml.grant(["MANAGE"], "MODEL", MODEL, "bob")
    start = _last(root)
    bob.register_model(MODEL)  # allowed: no record until the version exists
    bob.record_model_version(MODEL, 1)
    assert _actions(root, start) == [(VERSION_ACTION, 200, MODEL)]

    # the owner (a member of the owning group) may too; without USE SCHEMA nobody but admins
    owned_by_ml.revoke(["MANAGE"], "MODEL", MODEL, "bob")
    owned_by_ml.add_member("ml", "bob")
    bob.register_model(MODEL)
    owned_by_ml.revoke(["USE SCHEMA"], "SCHEMA", "silver", "bob")
    with pytest.raises(PermissionDenied, match="'bob' does not have USE SCHEMA on SCHEMA "
                       "dev.silver"):
        bob.register_model(MODEL)


def test_moving_an_alias_needs_ownership_or_manage(root: str, owned_by_ml: Metastore,
                                                   tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    client.create_registered_model(MODEL)
    client.create_model_version(MODEL, source=str(tmp_path))
    bob = Catalog(root, "dev", principal="bob")
    start = _last(root)
    with pytest.raises(PermissionDenied, match=DENIED):
        deploy(bob, client, "silver", MODEL, 1, True, actor="bob")
    assert alias_version(client, MODEL, CHAMPION) is None  # nothing moved
    assert _actions(root, start) == [("checkPermission", 403, "MODEL dev.silver.clf")]
    assert not bob.exists("silver.alias_changes")

    owned_by_ml.grant(["MANAGE"], "MODEL", MODEL, "bob")
    start = _last(root)
    assert deploy(bob, client, "silver", MODEL, 1, True, actor="bob") == CHAMPION
    assert alias_version(client, MODEL, CHAMPION) == 1
    assert (ALIAS_ACTION, 200, MODEL) in _actions(root, start)
    assert [a for a in _actions(root, start) if a[1] != 200] == []


def test_a_model_declared_already_is_not_recorded_as_created(
        root: str, owned_by_ml: Metastore) -> None:
    owned_by_ml.grant(["MANAGE"], "MODEL", MODEL, "bob")
    owned_by_ml.grant(["CREATE MODEL"], "SCHEMA", "silver", "bob")
    bob = Catalog(root, "dev", principal="bob")
    start = _last(root)
    bob.register_model(MODEL)  # exists (owned by ml): nothing created, nothing to record
    bob.register_model("dev.silver.other")  # created: one record, bob owns it
    created = [a for a in _actions(root, start) if a[0] == "createRegisteredModel"]
    assert created == [("createRegisteredModel", 200, "MODEL dev.silver.other")]
    assert owned_by_ml.securable("MODEL", MODEL).owner == "ml"
    assert owned_by_ml.securable("MODEL", "silver.other").owner == "bob"
