"""Row filters, column masks and privileges called directly (issue 13, `make mutation`'s `access`
group): each test kills survivors of that group's run (bench/MUTATION.md, "governance access")
by a behaviour the other tests did not pin down."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.catalog.access import access
from lakehouse_ml.governance import Metastore, PermissionDenied
from lakehouse_ml.governance.audit import audit_log
from lakehouse_ml.governance.audit_chain import TABLE as AUDIT_TABLE
from lakehouse_ml.governance.principals import local_user, validate_name
from lakehouse_ml.governance.privileges import Source
from lakehouse_ml.governance.row_column import (
    Constant,
    Function,
    PolicyFunctionError,
    _one_line,
    check_function,
    compile_filter,
    secure,
)
from lakehouse_ml.governance.sql import run_sql
from tests.governance.audit_support import params, records
from tests.governance.conftest import SCHEMA as SCHEMA_DOC
from tests.governance.conftest import read_path
from tests.governance.test_row_column import ROWS, delta

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


# catalog/access.py: the enforcement point (whole run of 2026-12-02)

def test_check_within_with_nothing_declared_is_one_403_naming_what_was_asked(
        metastore: Metastore) -> None:
    """A model in a catalog nothing declares, asked by an admin (who would hold EXECUTE): the
    denial names principal, privilege and the model, says why, and is one 403
    `checkPermission` record of the model in this lakehouse's audit log."""
    admin, model = local_user(), "archive.old.clf"
    before = records(metastore).height
    with pytest.raises(PermissionDenied) as denied:
        access(metastore.root, "dev").check_within(admin, "execute", "MODEL", model)
    assert (denied.value.principal, denied.value.privilege, denied.value.securable) == (
        admin, "EXECUTE", f"MODEL {model}")
    said = (f"permission denied: {admin!r} does not have EXECUTE on MODEL {model} "
            "(neither it nor a container taking it is declared)")
    assert str(denied.value) == said
    rows = records(metastore).slice(before).to_dicts()
    assert [(r["user"], r["action"], r["status"], r["error"], params(r)) for r in rows] == [
        (admin, "checkPermission", 403, said, {"securable": f"MODEL {model}"})]


def test_check_within_passes_an_undeclared_schema_to_the_catalog(metastore: Metastore) -> None:
    """Neither the model nor its schema is declared: the catalog decides."""
    metastore.grant(["USE CATALOG", "USE SCHEMA", "EXECUTE"], "CATALOG", "dev", "bob")
    assert access(metastore.root, "dev").check_within("bob", "EXECUTE", "MODEL",
                                                       "dev.nowhere.clf") == ("CATALOG", "dev")


def test_a_table_redeclared_in_this_process_is_looked_up_again(metastore: Metastore) -> None:
    """The remembered table is the same object until `create_table` rewrites its document;
    then its new owner decides, and the check its old owner passed is decided again."""
    table, checks = "dev.silver.mine", access(metastore.root, "dev")
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", "bob")
    metastore.grant(["USE SCHEMA"], "SCHEMA", "silver", "bob")
    catalog = Catalog(metastore.root, "dev")
    catalog.create_table("silver.mine", SCHEMA_DOC, TableInfo(owner="bob"))
    checks.check("bob", "SELECT", "TABLE", table)
    first = checks.table(table)
    assert first.owner == "bob" and checks.table(table) is first
    catalog.create_table("silver.mine", SCHEMA_DOC, TableInfo(owner="data-eng"))
    assert checks.table(table).owner == "data-eng"
    with pytest.raises(PermissionDenied, match="'bob' does not have SELECT on TABLE "
                       "dev.silver.mine"):
        checks.check("bob", "SELECT", "TABLE", table)


def test_has_policy_is_true_for_a_row_filter_alone(metastore: Metastore) -> None:
    checks = access(metastore.root, "dev")
    assert not checks.has_policy(CUSTOMERS)
    run_sql(metastore, "CREATE FUNCTION silver.no_rows(t STRING) RETURNS BOOLEAN RETURN FALSE")
    run_sql(metastore, "ALTER TABLE silver.customers SET ROW FILTER silver.no_rows ON "
            "(tenant_id)")
    assert checks.has_policy(CUSTOMERS)


def test_a_record_keeps_its_run_its_parameters_as_text_and_no_operation_if_none(
        metastore: Metastore) -> None:
    access(metastore.root, "dev").record("ann", CUSTOMERS, None, "set_tag", {"version": 3},
                                         action="setModelVersionTag", run_id="run-1")
    audit_log(metastore.root, "dev").flush()
    rows = Catalog(metastore.root, "dev").read(AUDIT_TABLE).filter(
        pl.col("user_identity").struct.field("email") == "ann").to_dicts()
    assert [(r["run_id"], params(r | {"params": r["request_params"]})) for r in rows] == [
        ("run-1", {"securable": CUSTOMERS, "method": "set_tag", "version": "3"})]


def test_access_is_one_per_root_however_written(tmp_path: Path) -> None:
    """A trailing slash names the same lakehouse; a root ending in a letter is kept whole."""
    root = Catalog(str(tmp_path / "lakeX"), "dev").root
    assert access(root + "/", "dev") is access(root, "dev")
    assert access(root, "dev").metastore.root == root


# privileges.py, principals.py

def test_a_usage_privilege_on_its_own_securable_is_denied_as_that_privilege(
        metastore: Metastore) -> None:
    """USE CATALOG on the catalog, USE SCHEMA on the schema: the denial is of the privilege
    asked for, not of a usage requirement ('needed to use ...')."""
    for privilege, kind, name, full in (("USE CATALOG", "CATALOG", "dev", "dev"),
                                        ("USE SCHEMA", "SCHEMA", "silver", "dev.silver")):
        with pytest.raises(PermissionDenied) as denied:
            metastore.check("bob", privilege, kind, name)
        assert str(denied.value) == (f"permission denied: 'bob' does not have {privilege} on "
                                     f"{kind} {full}")
        metastore.grant(["USE CATALOG"], "CATALOG", "dev", "bob")


def test_an_admin_s_privileges_come_from_the_metastore(metastore: Metastore) -> None:
    admin = local_user()
    found = metastore.effective_privileges(admin, "TABLE", "silver.customers")
    assert Source("SELECT", "METASTORE metastore", admin, "metastore admin") in found


@pytest.mark.parametrize("name", [None, "", "   ", "a" * 256])
def test_a_principal_name_is_1_to_255_characters_not_blank(name: object) -> None:
    with pytest.raises(ValueError, match="invalid principal name"):
        validate_name(name)  # type: ignore[arg-type]


def test_a_name_of_255_characters_or_with_an_x_is_valid() -> None:
    assert validate_name("a" * 255) == "a" * 255
    assert validate_name("Xavier") == "Xavier"


# row_column.py

def test_a_definition_without_parameters_or_return_type_has_none() -> None:
    assert Function.from_definition("dev.silver.f", {"body": "TRUE"}) == Function(
        "dev.silver.f", (), "", "TRUE")


def kept_by(body: str, groups: set[str]) -> list[object]:
    """The values of `t` a row filter with `body` keeps for a member of `groups`."""
    fn = Function("dev.silver.f", (("t", "STRING"),), "BOOLEAN", body)
    values = pl.DataFrame({"t": ["01", "02", "", None, "t-01"]})
    keep = compile_filter(fn, ("t",), "ann", frozenset(groups), (("t", pl.String),))
    return (values if keep is None else values.filter(keep))["t"].to_list()


def test_a_concatenated_group_matches_prefix_and_suffix_exactly() -> None:
    """`concat('t', '-', t, '-', 'r')` as `t IN (names)`: a group must start with 't-' and end
    with '-r' and be long enough for both ('t-r' names nothing; 't--r' names '')."""
    body = "is_member(concat('t', '-', t, '-', 'r'))"
    assert kept_by(body, {"x-01-r", "t-r", "t-02-r"}) == ["02"]
    assert kept_by(body, {"t--r"}) == [""]


def test_a_group_that_is_no_concatenation_is_compared_whole() -> None:
    assert kept_by("is_member(nullif(t, 'none'))", {"t-01"}) == ["t-01"]


def test_a_number_in_a_concatenated_group_is_its_value_as_text() -> None:
    """`concat('t-', 007, t)` is 't-7' followed by t (not 't-007')."""
    assert kept_by("is_member(concat('t-', 007, t))", {"t-701"}) == ["01"]


def test_errors_name_the_function() -> None:
    """A membership test with two groups; a VOID parameter or return type (sqlglot reads it
    in Databricks SQL only, polars has no such type); a body polars fails on at run time."""
    with pytest.raises(PolicyFunctionError, match=r"^function dev.silver.f: is_member\(\) "
                       "takes one group name"):
        kept_by("is_member('a', 'b')", set())
    void = "^function dev.silver.f: type VOID is not supported"
    with pytest.raises(PolicyFunctionError, match=void):
        compile_filter(Function("dev.silver.f", (("t", "VOID"),), "BOOLEAN", "TRUE"),
                       ("tenant_id",), "ann", frozenset(), SCHEMA)
    for fn in (Function("dev.silver.f", (("t", "VOID"),), "BOOLEAN", "TRUE"),
               Function("dev.silver.f", (("t", "STRING"),), "VOID", "t")):
        with pytest.raises(PolicyFunctionError, match=void):
            check_function(fn)
    with pytest.raises(PolicyFunctionError, match="^function dev.silver.f: polars' SQL "
                       "cannot evaluate 't - 1': arithmetic"):
        check_function(Function("dev.silver.f", (("t", "STRING"),), "", "t - 1"))


@pytest.mark.parametrize("body", [
    "CASE WHEN is_account_group_member('pii-readers') THEN no_such_fn(t) ELSE '***' END",
    "CASE WHEN current_user() = 'ann' THEN t - 1 ELSE '***' END",
    "CASE WHEN is_member('a') THEN 'x' WHEN is_member('b') THEN t - 1 ELSE '***' END",
])
def test_a_branch_only_some_readers_reach_is_checked_at_create_time(body: str) -> None:
    """Checked for a reader in no group only, these passed CREATE FUNCTION and then failed
    every read of the group's members (or of the named user)."""
    with pytest.raises(PolicyFunctionError, match="^function dev.silver.f: polars' SQL "
                       "cannot evaluate"):
        check_function(Function("dev.silver.f", (("t", "STRING"),), "STRING", body))


def test_masks_skip_a_column_not_read_and_see_the_reader(metastore: Metastore,
                                                         root: str) -> None:
    """Masks apply in column order: email is not read, tenant_id still is masked; the mask
    sees who reads; an argument column not read denies the read, naming the function."""
    for statement in ("CREATE FUNCTION silver.own(e STRING) RETURNS STRING RETURN CASE WHEN "
                      "current_user() = 'ann' THEN e ELSE '***' END",
                      "ALTER TABLE silver.customers ALTER COLUMN email SET MASK silver.own",
                      "ALTER TABLE silver.customers ALTER COLUMN tenant_id SET MASK "
                      "silver.own"):
        run_sql(metastore, statement)
    frame = delta(root)
    assert secure(frame.select("tenant_id"), CUSTOMERS, "bob", metastore).collect()[
        "tenant_id"].to_list() == ["***"] * 4
    assert secure(frame, CUSTOMERS, "ann", metastore).sort("id").collect()["email"].equals(
        ROWS["email"])
    run_sql(metastore, "CREATE FUNCTION silver.pair(e STRING, i BIGINT) RETURNS STRING "
            "RETURN e")
    run_sql(metastore, "ALTER TABLE silver.customers ALTER COLUMN email SET MASK silver.pair "
            "USING COLUMNS (id)")
    with pytest.raises(PolicyFunctionError, match="function dev.silver.pair: argument "
                       r"column\(s\) id not in the rows read"):
        secure(frame.select("email"), CUSTOMERS, "bob", metastore)


@pytest.mark.parametrize("mask", [False, True])
@pytest.mark.parametrize(("argument", "said"), [
    ({"value": "x"}, "malformed argument {'value': 'x'}"),
    ({"literal": "'x'", "also": 1}, "malformed argument {'literal': \"'x'\", 'also': 1}"),
    ({"literal": 4}, "malformed argument {'literal': 4}"),
    ({"literal": "email || 'x'"}, "argument \"email || 'x'\" is neither a column nor a "
                                  "constant"),
])
def test_a_malformed_argument_is_refused_when_set_naming_the_function(
        metastore: Metastore, root: str, mask: bool, argument: dict, said: str) -> None:
    """`set_row_filter`/`set_column_mask` stored a mapping without `literal`, or a literal
    that is no constant, as given: every later read was denied. Refused when set now,
    nothing stored; a constant is accepted."""
    body = "STRING RETURN b" if mask else "BOOLEAN RETURN b = 'x'"  # the constant decides
    run_sql(metastore, f"CREATE FUNCTION silver.two(a STRING, b STRING) RETURNS {body}")

    def put(arg: dict) -> None:
        if mask:
            metastore.set_column_mask(CUSTOMERS, "email", "silver.two", [arg])
        else:
            metastore.set_row_filter(CUSTOMERS, "silver.two", ["email", arg])

    frame = delta(root)
    with pytest.raises(ValueError, match=f"^function dev.silver.two: {re.escape(said)}"):
        put(argument)
    assert secure(frame, CUSTOMERS, "bob", metastore).collect().height == len(ROWS)
    put({"literal": "'x'"})
    rows = secure(frame, CUSTOMERS, "bob", metastore).collect()
    assert rows["email"].to_list() == (["x"] * len(ROWS) if mask else ROWS["email"].to_list())
