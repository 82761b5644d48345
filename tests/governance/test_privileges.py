"""Unity Catalog's privilege rules: inheritance, revocation, owners, who may grant, sources."""

from __future__ import annotations

import pytest

from lakehouse_ml.governance import Metastore, PermissionDenied, Source, UnknownSecurable
from lakehouse_ml.governance.principals import local_user
from tests.governance.conftest import read_path

TABLE = ("TABLE", "silver.customers")


def test_reading_needs_use_catalog_use_schema_and_select(metastore: Metastore) -> None:
    with pytest.raises(PermissionDenied, match=r"'ann' does not have USE CATALOG on CATALOG dev"):
        metastore.check("ann", "SELECT", *TABLE)
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", "ann")
    with pytest.raises(PermissionDenied, match="USE SCHEMA on SCHEMA dev.silver"):
        metastore.check("ann", "SELECT", *TABLE)
    metastore.grant(["USE SCHEMA"], "SCHEMA", "silver", "ann")
    with pytest.raises(PermissionDenied) as denied:
        metastore.check("ann", "SELECT", *TABLE)
    assert (denied.value.principal, denied.value.privilege, denied.value.securable) == (
        "ann", "SELECT", "TABLE dev.silver.customers")
    metastore.grant(["SELECT"], *TABLE, "ann")
    metastore.check("ann", "SELECT", *TABLE)
    with pytest.raises(PermissionDenied, match="MODIFY"):
        metastore.check("ann", "MODIFY", *TABLE)


@pytest.mark.parametrize("level", [("CATALOG", "dev"), ("SCHEMA", "silver"), TABLE])
def test_select_granted_on_each_level_is_inherited_and_revoked_at_once(
        metastore: Metastore, level: tuple[str, str]) -> None:
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", "bob")
    metastore.grant(["USE SCHEMA"], "SCHEMA", "silver", "bob")
    metastore.grant(["SELECT"], *level, "bob")
    metastore.check("bob", "SELECT", *TABLE)
    if level != TABLE:
        metastore.check("bob", "SELECT", "TABLE", "silver.events")
    metastore.revoke(["SELECT"], *level, "bob")
    with pytest.raises(PermissionDenied, match="SELECT on TABLE dev.silver.customers"):
        metastore.check("bob", "SELECT", *TABLE)


def test_revoking_use_catalog_cuts_off_everything_inside(metastore: Metastore) -> None:
    read_path(metastore, "bob")
    metastore.check("bob", "SELECT", *TABLE)
    metastore.revoke(["USE CATALOG"], "CATALOG", "dev", "bob")
    with pytest.raises(PermissionDenied, match="USE CATALOG on CATALOG dev"):
        metastore.check("bob", "SELECT", *TABLE)


def test_grants_to_a_group_reach_members_of_nested_groups(metastore: Metastore) -> None:
    read_path(metastore, "readers")  # ann ∈ analysts ∈ readers
    metastore.check("ann", "SELECT", *TABLE)
    with pytest.raises(PermissionDenied):
        metastore.check("bob", "SELECT", *TABLE)
    metastore.remove_member("analysts", "ann")
    with pytest.raises(PermissionDenied):
        metastore.check("ann", "SELECT", *TABLE)


def test_effective_privileges_name_the_grant_each_comes_from(metastore: Metastore) -> None:
    metastore.grant(["SELECT"], "CATALOG", "dev", "readers")
    metastore.grant(["SELECT", "MODIFY"], *TABLE, "ann")
    metastore.grant(["ALL PRIVILEGES"], "SCHEMA", "silver", "analysts")
    got = metastore.effective_privileges("ann", *TABLE)
    assert Source("SELECT", "CATALOG dev", "readers") in got
    assert Source("SELECT", "TABLE dev.silver.customers", "ann") in got
    assert Source("MODIFY", "TABLE dev.silver.customers", "ann") in got
    from_all = {s.privilege for s in got if s.securable == "SCHEMA dev.silver"}
    assert from_all == {"SELECT", "MODIFY", "APPLY TAG"}  # ALL PRIVILEGES: not MANAGE
    assert metastore.effective_privileges("bob", *TABLE) == []


def test_owner_holds_all_privileges_on_what_it_owns_and_inside(metastore: Metastore) -> None:
    metastore.add_member("data-eng", "bob")  # data-eng owns the tables (registry documents)
    sources = metastore.effective_privileges("bob", *TABLE)
    assert {s.privilege for s in sources} == {"SELECT", "MODIFY", "APPLY TAG", "MANAGE"}
    assert {(s.via, s.grantee) for s in sources} == {("owner", "data-eng")}
    metastore.set_owner("SCHEMA", "silver", "ann")
    assert Source("SELECT", "SCHEMA dev.silver", "ann", "owner") in (
        metastore.effective_privileges("ann", "TABLE", "silver.events"))


def test_metastore_admin_holds_everything(metastore: Metastore) -> None:
    admin = local_user()
    metastore.check(admin, "MODIFY", *TABLE)
    sources = metastore.effective_privileges(admin, *TABLE)
    assert {s.privilege for s in sources if s.via == "metastore admin"} == {
        "SELECT", "MODIFY", "APPLY TAG", "MANAGE"}
    assert Source("SELECT", "CATALOG dev", admin, "owner") in sources  # implied catalog


def test_who_may_grant(metastore: Metastore) -> None:
    with pytest.raises(PermissionDenied, match="'bob' does not have MANAGE on TABLE"):
        metastore.grant(["SELECT"], *TABLE, "ann", as_principal="bob")
    # a MANAGE holder (inherited from the schema)
    metastore.grant(["MANAGE"], "SCHEMA", "silver", "bob")
    metastore.grant(["SELECT"], *TABLE, "ann", as_principal="bob")
    metastore.revoke(["MANAGE"], "SCHEMA", "silver", "bob")
    with pytest.raises(PermissionDenied):
        metastore.revoke(["SELECT"], *TABLE, "ann", as_principal="bob")
    # the owner of the object (through its group) and the owner of its catalog
    metastore.add_member("data-eng", "bob")
    metastore.revoke(["SELECT"], *TABLE, "ann", as_principal="bob")
    metastore.set_owner("CATALOG", "dev", "ann")
    metastore.grant(["MODIFY"], *TABLE, "etl", as_principal="ann")
    assert metastore.show_grants(*TABLE, "etl")[0]["action_type"] == "MODIFY"
    # holding a privilege is not enough to grant it
    read_path(metastore, "etl")
    with pytest.raises(PermissionDenied):
        metastore.grant(["SELECT"], *TABLE, "bob", as_principal="etl")


def test_privileges_that_do_not_apply_and_unknown_names_are_refused(
        metastore: Metastore) -> None:
    with pytest.raises(ValueError, match="BROWSE does not apply to a table"):
        metastore.grant(["BROWSE"], *TABLE, "ann")
    with pytest.raises(ValueError, match="unknown privilege 'READ'"):
        metastore.grant(["READ"], *TABLE, "ann")
    with pytest.raises(UnknownSecurable, match="table dev.silver.nope does not exist"):
        metastore.grant(["SELECT"], "TABLE", "silver.nope", "ann")
    with pytest.raises(LookupError, match="principal 'carol' does not exist"):
        metastore.grant(["SELECT"], *TABLE, "carol")
    assert metastore.show_grants(*TABLE) == []


def test_an_undeclared_principal_is_denied(metastore: Metastore) -> None:
    with pytest.raises(PermissionDenied, match="'mallory' does not have SELECT.*does not exist"):
        metastore.check("mallory", "SELECT", *TABLE)


def test_create_needs_the_create_privilege_and_makes_the_creator_owner(
        metastore: Metastore) -> None:
    with pytest.raises(PermissionDenied, match="'ann' does not have USE CATALOG"):
        metastore.create("SCHEMA", "gold", as_principal="ann")
    metastore.grant(["USE CATALOG", "CREATE SCHEMA"], "CATALOG", "dev", "ann")
    gold = metastore.create("SCHEMA", "gold", as_principal="ann")
    assert (gold.name, gold.owner) == ("dev.gold", "ann")
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", "bob")
    metastore.grant(["USE SCHEMA"], "SCHEMA", "gold", "bob", as_principal="ann")
    with pytest.raises(PermissionDenied, match="CREATE MODEL on SCHEMA dev.gold"):
        metastore.create("MODEL", "gold.churn", as_principal="bob")
    metastore.grant(["CREATE MODEL"], "SCHEMA", "gold", "bob", as_principal="ann")
    model = metastore.create("MODEL", "gold.churn", as_principal="bob")
    assert model.owner == "bob"
    assert [c.name for c in metastore.children("dev.gold")] == ["dev.gold.churn"]


def test_execute_on_models_and_functions_and_feature_tables(metastore: Metastore) -> None:
    metastore.create("SCHEMA", "ml")
    metastore.create("MODEL", "ml.churn_model")
    metastore.create("FUNCTION", "ml.score", definition={"body": "1"})
    features = metastore.create("TABLE", "ml.customer_features", table_kind="FEATURE TABLE")
    assert (features.type, features.kind) == ("TABLE", "FEATURE TABLE")
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", "etl")
    metastore.grant(["USE SCHEMA", "EXECUTE", "SELECT"], "SCHEMA", "ml", "etl")
    metastore.check("etl", "EXECUTE", "MODEL", "ml.churn_model")
    metastore.check("etl", "EXECUTE", "FUNCTION", "ml.score")
    metastore.check("etl", "SELECT", "TABLE", "ml.customer_features")
    assert [s.privilege for s in metastore.effective_privileges(
        "etl", "MODEL", "ml.churn_model")] == ["EXECUTE"]  # SELECT does not apply to a model
    metastore.revoke(["EXECUTE"], "SCHEMA", "ml", "etl")
    with pytest.raises(PermissionDenied, match="EXECUTE on MODEL dev.ml.churn_model"):
        metastore.check("etl", "EXECUTE", "MODEL", "ml.churn_model")
    with pytest.raises(ValueError, match="SELECT does not apply to a model"):
        metastore.grant(["SELECT"], "MODEL", "ml.churn_model", "etl")
