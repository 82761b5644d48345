"""Row filters, column masks and privileges called directly (issue 13, `make mutation`'s `access`
group): each test kills survivors of that group's run (bench/MUTATION.md, "governance access")
by a behaviour the other tests did not pin down."""

from __future__ import annotations

import polars as pl
import pytest

from lakehouse_ml.governance import Metastore, PermissionDenied
from lakehouse_ml.governance.row_column import (
    Constant,
    Function,
    PolicyFunctionError,
    _one_line,
    compile_filter,
)
from tests.governance.conftest import read_path

TENANTS = pl.DataFrame({"tenant_id": ["t-01", "t-02", None]})
SCHEMA = (("tenant_id", pl.String),)


def kept(fn: Function, *args: str | Constant) -> list[object]:
    """The tenants a filter keeps for a principal in no group."""
    keep = compile_filter(fn, args, "ann", frozenset(), SCHEMA)
    return (TENANTS if keep is None else TENANTS.filter(keep))["tenant_id"].to_list()


def test_a_constant_argument_is_read_as_databricks_sql() -> None:
    """`ON (tenant_id, "t-01")`: in Databricks SQL a double-quoted text is a string (in
    sqlglot's default dialect it would be a column, refused as no constant)."""
    same = Function("dev.silver.same", (("t", "STRING"), ("x", "STRING")), "BOOLEAN", "t = x")
    assert kept(same, "tenant_id", Constant('"t-01"')) == ["t-01"]
    assert kept(same, "tenant_id", Constant("'t-02'")) == ["t-02"]


@pytest.mark.parametrize("argument", ["upper('a')", "-'a'", "tenant_id", "x + 1"])
def test_an_argument_that_is_no_constant_is_refused(argument: str) -> None:
    """Only a string, number, TRUE, FALSE or NULL (a number may be negative) is a constant."""
    positive = Function("dev.silver.positive", (("t", "STRING"), ("x", "INT")), "BOOLEAN",
                        "x > 0")
    with pytest.raises(PolicyFunctionError, match=r"is neither a column nor a constant"):
        kept(positive, "tenant_id", Constant(argument))
    assert kept(positive, "tenant_id", Constant("-5")) == []
    assert kept(positive, "tenant_id", Constant("5")) == ["t-01", "t-02", None]


def test_a_call_with_the_wrong_number_of_arguments_names_them_constants_included() -> None:
    one = Function("dev.silver.one", (("t", "STRING"),), "BOOLEAN", "TRUE")
    with pytest.raises(PolicyFunctionError, match=r"^function dev.silver.one takes 1 "
                       r"argument\(s\), called with 2 \(tenant_id, 't-01'\)$"):
        kept(one, "tenant_id", Constant("'t-01'"))


def test_an_error_is_told_on_one_line_of_at_most_500_characters() -> None:
    said = _one_line(ValueError("word\n" * 200))
    assert len(said) == 500 and "\n" not in said and said.startswith("word word")


CUSTOMERS = "dev.silver.customers"


def test_a_principal_with_no_privilege_lists_the_metastore_and_sees_no_catalog(
        metastore: Metastore) -> None:
    """The metastore is visible to everyone (its catalogs only as privileges allow)."""
    assert metastore.listing(as_principal="bob") == []
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", "bob")
    assert [c.name for c in metastore.listing(as_principal="bob")] == ["dev"]


def test_browse_on_the_catalog_shows_the_catalog_and_every_table_in_it(
        metastore: Metastore) -> None:
    assert metastore.visible("CATALOG", ["dev"], as_principal="bob") == set()
    assert metastore.visible("TABLE", [CUSTOMERS], as_principal="bob") == set()
    metastore.grant(["BROWSE"], "CATALOG", "dev", "bob")
    assert metastore.visible("CATALOG", ["dev"], as_principal="bob") == {"dev"}
    assert metastore.visible("TABLE", [CUSTOMERS, "dev.silver.events"], as_principal="bob"
                             ) == {CUSTOMERS, "dev.silver.events"}


def test_a_privilege_on_a_table_shows_it_only_with_use_on_its_catalog_and_schema(
        metastore: Metastore) -> None:
    metastore.grant(["SELECT"], "TABLE", "silver.customers", "bob")
    assert metastore.visible("TABLE", [CUSTOMERS], as_principal="bob") == set()
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", "bob")
    assert metastore.visible("TABLE", [CUSTOMERS], as_principal="bob") == set()
    read_path(metastore, "bob")
    assert metastore.visible("TABLE", [CUSTOMERS, "dev.silver.events"], as_principal="bob"
                             ) == {CUSTOMERS}


def test_the_owner_of_a_schema_sees_its_tables_only_with_use_catalog(
        metastore: Metastore) -> None:
    """Owning `dev.silver` gives every privilege inside it, but not USE CATALOG on `dev`."""
    metastore.set_owner("SCHEMA", "silver", "bob")
    assert metastore.visible("TABLE", [CUSTOMERS], as_principal="bob") == set()
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", "bob")
    assert metastore.visible("TABLE", [CUSTOMERS], as_principal="bob") == {CUSTOMERS}


def test_a_manage_holder_who_owns_nothing_may_grant_and_revoke(metastore: Metastore) -> None:
    table = ("TABLE", "silver.customers")
    with pytest.raises(PermissionDenied, match=r"'bob' does not have MANAGE on TABLE "
                       r"dev.silver.customers"):
        metastore.grant(["SELECT"], *table, "ann", as_principal="bob")
    metastore.grant(["MANAGE"], *table, "bob")
    metastore.grant(["SELECT"], *table, "ann", as_principal="bob")
    assert ("ann", "SELECT") in {(g["principal"], g["action_type"])
                                 for g in metastore.show_grants(*table)}
    metastore.revoke(["SELECT"], *table, "ann", as_principal="bob")
    assert ("ann", "SELECT") not in {(g["principal"], g["action_type"])
                                     for g in metastore.show_grants(*table)}


def test_only_a_group_is_stored_with_members(metastore: Metastore) -> None:
    """The documented state shape: `members` on groups only."""
    principals = metastore.store.read()["principals"]
    assert principals["ann"] == {"type": "user"}
    assert principals["etl"] == {"type": "service_principal"}
    assert principals["analysts"] == {"type": "group", "members": ["ann"]}
