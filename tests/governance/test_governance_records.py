"""Grants, revokes, ownership and tag changes and denials each leave one audit record."""

from __future__ import annotations

import pytest

from lakehouse_ml.governance import Metastore, PermissionDenied
from lakehouse_ml.governance.principals import local_user
from tests.governance.audit_support import params, records


def test_each_change_and_denial_is_one_record(metastore: Metastore) -> None:
    before = records(metastore).height
    metastore.grant(["SELECT"], "TABLE", "silver.customers", "analysts")
    metastore.revoke(["SELECT"], "TABLE", "silver.customers", "analysts")
    metastore.set_owner("TABLE", "silver.customers", "bob")
    metastore.set_tags("TABLE", "silver.customers", {"pii": "email"}, column="email")
    with pytest.raises(PermissionDenied):
        metastore.grant(["MODIFY"], "TABLE", "silver.events", "ann", as_principal="ann")
    with pytest.raises(PermissionDenied):
        metastore.check("ann", "SELECT", "TABLE", "silver.customers")
    rows = records(metastore).slice(before).to_dicts()
    admin = local_user()
    assert [(r["user"], r["action"], r["status"]) for r in rows] == [
        (admin, "updatePermissions", 200), (admin, "updatePermissions", 200),
        (admin, "updateTables", 200), (admin, "updateTables", 200),
        ("ann", "updatePermissions", 403), ("ann", "checkPermission", 403)]
    assert params(rows[0]) == {"securable": "TABLE dev.silver.customers",
                               "principal": "analysts", "add": "SELECT"}
    assert params(rows[1])["remove"] == "SELECT"
    assert params(rows[2])["owner"] == "bob"
    assert params(rows[3])["column"] == "email"
    assert "'ann' does not have MANAGE on TABLE dev.silver.events" in rows[4]["error"]
    assert "'ann' does not have USE CATALOG" in rows[5]["error"]
