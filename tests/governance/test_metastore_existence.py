"""A caller without the privilege cannot learn from the metastore whether a securable
exists: a CREATE (IF NOT EXISTS, OR REPLACE or plain) is denied before anything is looked
up, and describe, ls, privileges and SHOW GRANTS of a name it may not see are denied, each
with the same answer for an existing and a missing securable, audited (403)."""

from __future__ import annotations

import pytest

from lakehouse_ml.governance import Metastore, PermissionDenied, UnknownSecurable
from lakehouse_ml.governance.principals import local_user
from lakehouse_ml.governance.sql import run_sql
from tests.governance.audit_support import cli, params, records
from tests.governance.test_metastore_noop import FUNCTION

# kind -> (an existing one, a missing one, the privilege creating one needs, extra arguments)
CREATES: dict[str, tuple[str, str, str, dict]] = {
    "CATALOG": ("dev", "nope", "CREATE CATALOG", {}),
    "SCHEMA": ("silver", "nope", "CREATE SCHEMA", {}),
    "TABLE": ("silver.customers", "silver.nope", "CREATE TABLE", {}),
    "MODEL": ("silver.churn", "silver.nope", "CREATE MODEL", {}),
    "FUNCTION": ("silver.mask", "silver.nope", "CREATE FUNCTION", {"definition": FUNCTION}),
}
MODES = {"if not exists": {"if_not_exists": True}, "plain": {"if_not_exists": False},
         "or replace": {"replace": True}}


def _usable(m: Metastore) -> None:
    """ann may use catalog dev and schema silver, and create nothing; churn and mask exist."""
    m.create("MODEL", "silver.churn")
    m.create("FUNCTION", "silver.mask", definition=FUNCTION)
    m.grant(["USE CATALOG"], "CATALOG", "dev", "ann")
    m.grant(["USE SCHEMA"], "SCHEMA", "silver", "ann")


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("kind", list(CREATES))
def test_create_without_the_privilege_is_denied_whether_or_not_it_exists(
        metastore: Metastore, kind: str, mode: str) -> None:
    existing, missing, privilege, extra = CREATES[kind]
    _usable(metastore)
    assert metastore.securable(kind, existing).name.endswith(existing)
    with pytest.raises(UnknownSecurable):
        metastore.securable(kind, missing)
    before, version = records(metastore).height, metastore.store.version()
    errors = []
    for name in (existing, missing):
        with pytest.raises(PermissionDenied) as denied:
            metastore.create(kind, name, as_principal="ann", **MODES[mode], **extra)
        errors.append(str(denied.value))
        assert (denied.value.principal, denied.value.privilege) == ("ann", privilege)
    assert errors[0] == errors[1]  # the same answer: nothing said about existence
    rows = records(metastore).slice(before).to_dicts()
    assert [(r["user"], r["status"], r["error"]) for r in rows] == [
        ("ann", 403, errors[0])] * 2
    assert [params(r)["securable"].split(" ")[0] for r in rows] == [kind] * 2
    assert metastore.store.version() == version


@pytest.mark.parametrize("kind", ["SCHEMA", "TABLE"])
def test_without_use_the_denial_is_the_same_for_a_missing_container(
        metastore: Metastore, kind: str) -> None:
    """ann holds nothing: creating in dev.silver (exists) and dev.gone (does not) is denied
    alike, on USE CATALOG dev, never 'does not exist'."""
    name = {"SCHEMA": ("silver", "gone"), "TABLE": ("silver.t", "gone.t")}[kind]
    errors = []
    for each in name:
        with pytest.raises(PermissionDenied) as denied:
            metastore.create(kind, each, as_principal="ann")
        errors.append(str(denied.value))
    assert errors[1] == errors[0].replace("silver", "gone")  # only the names asked for differ
    assert "'ann' does not have USE CATALOG on CATALOG dev" in errors[0]
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", "ann")
    denials = []
    for schema in ("silver", "gone"):
        with pytest.raises(PermissionDenied) as denied:
            metastore.create("TABLE", f"{schema}.t", as_principal="ann")
        denials.append(denied.value)
    assert [(d.privilege, d.securable) for d in denials] == [
        ("USE SCHEMA", "SCHEMA dev.silver"), ("USE SCHEMA", "SCHEMA dev.gone")]


def test_with_the_privilege_an_existing_one_is_a_silent_no_op_and_a_missing_container_unknown(
        metastore: Metastore) -> None:
    metastore.grant(["USE CATALOG", "CREATE SCHEMA"], "CATALOG", "dev", "ann")
    before, version = records(metastore).height, metastore.store.version()
    assert metastore.create("SCHEMA", "silver", as_principal="ann").owner == local_user()
    assert records(metastore).height == before and metastore.store.version() == version
    with pytest.raises(ValueError, match="schema dev.silver already exists"):
        metastore.create("SCHEMA", "silver", if_not_exists=False, as_principal="ann")
    with pytest.raises(UnknownSecurable, match="schema dev.gone does not exist"):
        metastore.create("TABLE", "gone.t")  # the admin may: the schema is missing
    rows = records(metastore).slice(before).to_dicts()
    assert [(r["user"], r["status"]) for r in rows] == [("ann", 400), (local_user(), 400)]
    assert metastore.create("SCHEMA", "gold", as_principal="ann").owner == "ann"


# name -> the same name's missing twin: each pair differs only in existing
HIDDEN = {"dev.silver.customers": "dev.silver.gone", "dev.silver": "dev.gone", "dev": "gone",
          "dev.silver.churn": "dev.silver.gone2"}


@pytest.mark.parametrize("name", list(HIDDEN))
def test_describe_of_what_the_caller_may_not_see_is_denied_as_for_a_missing_name(
        metastore: Metastore, name: str) -> None:
    metastore.create("MODEL", "silver.churn")
    before = records(metastore).height
    errors = []
    for each in (name, HIDDEN[name]):
        with pytest.raises(PermissionDenied) as denied:
            metastore.describe(each, as_principal="ann")
        assert (denied.value.principal, denied.value.privilege) == ("ann", "BROWSE")
        errors.append(str(denied.value).replace(each, "<name>"))
    assert errors[0] == errors[1]
    rows = records(metastore).slice(before).to_dicts()
    assert [(r["user"], r["status"]) for r in rows] == [("ann", 403)] * 2
    assert rows[0]["action"] == rows[1]["action"]
    with pytest.raises(UnknownSecurable):  # the admin is told what does not exist
        metastore.describe(HIDDEN[name])
    assert metastore.describe(name).name == name


def test_what_the_caller_may_see_is_described_and_a_missing_name_is_unknown(
        metastore: Metastore) -> None:
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", "ann")
    metastore.grant(["USE SCHEMA", "SELECT"], "SCHEMA", "silver", "ann")
    assert metastore.describe("dev.silver.customers", as_principal="ann").owner == "data-eng"
    with pytest.raises(UnknownSecurable, match="no table or model or function named "
                       "dev.silver.gone"):
        metastore.describe("dev.silver.gone", as_principal="ann")  # SELECT would reach it
    with pytest.raises(PermissionDenied):  # USE CATALOG alone shows no schema
        metastore.describe("dev.gold", as_principal="ann")
    metastore.grant(["BROWSE"], "CATALOG", "dev", "bob")  # BROWSE: everything in it, no USE
    assert metastore.describe("dev.silver.customers", as_principal="bob").type == "TABLE"
    with pytest.raises(UnknownSecurable):
        metastore.describe("dev.gold", as_principal="bob")


def test_ls_lists_only_what_the_caller_may_see(metastore: Metastore) -> None:
    metastore.create("SCHEMA", "gold")
    metastore.create("CATALOG", "prod")
    assert [c.name for c in metastore.listing(as_principal="ann")] == []
    with pytest.raises(PermissionDenied):
        metastore.listing("dev", as_principal="ann")
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", "ann")
    metastore.grant(["SELECT"], "TABLE", "silver.events", "ann")
    assert [c.name for c in metastore.listing(as_principal="ann")] == ["dev"]
    assert [c.name for c in metastore.listing("dev", as_principal="ann")] == []
    metastore.grant(["USE SCHEMA"], "SCHEMA", "silver", "ann")
    assert [c.name for c in metastore.listing("dev", as_principal="ann")] == ["dev.silver"]
    assert [c.name for c in metastore.listing("dev.silver", as_principal="ann")] == [
        "dev.silver.events"]
    assert {c.name for c in metastore.listing()} >= {"dev", "prod"}  # the admin sees all


def test_show_grants_is_denied_as_describe(metastore: Metastore) -> None:
    before = records(metastore).height
    for name in ("silver.customers", "silver.gone"):
        with pytest.raises(PermissionDenied, match="'ann' does not have BROWSE on TABLE "):
            run_sql(metastore, f"SHOW GRANTS ON TABLE {name}", as_principal="ann")
    rows = records(metastore).slice(before).to_dicts()
    assert [(r["action"], r["status"]) for r in rows] == [("getPermissions", 403)] * 2
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", "ann")
    metastore.grant(["USE SCHEMA"], "SCHEMA", "silver", "ann")
    metastore.grant(["SELECT"], "TABLE", "silver.customers", "ann")
    shown = run_sql(metastore, "SHOW GRANTS ON TABLE silver.customers", as_principal="ann")
    assert {r["action_type"] for r in shown.rows} == {"USE CATALOG", "USE SCHEMA", "SELECT"}


def test_the_cli_denies_describe_ls_and_privileges_of_a_hidden_name(
        metastore: Metastore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_ROOT", metastore.root)
    monkeypatch.setenv("LAKEHOUSE_ENV", "dev")
    for args in (["describe", "dev.silver.customers"], ["describe", "dev.silver.gone"],
                 ["ls", "dev.silver"], ["ls", "dev.gone"],
                 ["privileges", "dev.silver.customers"]):
        result = cli("catalog", *args, "--as", "ann")
        assert result.exit_code != 0, args
        assert "'ann' does not have BROWSE" in result.output, (args, result.output)
    shown = cli("catalog", "describe", "dev.silver.customers")
    assert shown.exit_code == 0 and '"owner": "data-eng"' in shown.output
