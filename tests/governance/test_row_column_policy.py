"""Functions, row filters and column masks declared in policy files: churn's masks email and
filters customers by tenant; applying is idempotent; stored functions round-trip through
sqlglot."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import sqlglot

from lakehouse_ml.governance import GROUP, USER, Metastore
from lakehouse_ml.governance.policy import PolicyError, apply_policy
from lakehouse_ml.governance.principals import local_user
from lakehouse_ml.governance.row_column import secure
from lakehouse_ml.governance.sql import parse_function
from tests.governance.test_policy import apply_churn

CUSTOMERS = pl.LazyFrame({
    "customer_id": [1, 2, 3, 4], "email": ["ann@a.com", "bo@b.org", None, "cy@c.net"],
    "tenant_id": ["t-00", "t-03", "t-03", None]})
EMAIL_TABLES = ("bronze.customers", "silver.customers", "silver.customers_quarantine")


@pytest.fixture
def churn(root: str) -> Metastore:
    """The churn policy applied; tara reads tenant t-03, ivy is an ml member."""
    m = apply_churn(Metastore(root, "dev"))
    for user, group in (("tara", "tenant-t-03"), ("ivy", "ml")):
        m.add_principal(user, USER)
        m.add_member(group, user)
    return m


def rows(m: Metastore, principal: str, table: str = "silver.customers"
         ) -> list[tuple[object, ...]]:
    return secure(CUSTOMERS, table, principal, m).sort("customer_id").collect().rows()


@pytest.mark.parametrize("table", EMAIL_TABLES)
def test_churn_masks_email_and_filters_tenants(churn: Metastore, table: str) -> None:
    clear = CUSTOMERS.collect().rows()
    masked = [(1, "***", "t-00"), (2, "***", "t-03"), (3, "***", "t-03"), (4, "***", None)]
    assert rows(churn, "churn-pipeline", table) == clear  # copies bronze -> silver in clear
    assert rows(churn, "ivy", table) == masked  # ml ⊂ all-tenants, not a pii reader
    assert rows(churn, "tara", table) == masked[1:3]  # one tenant
    assert rows(churn, local_user(), table) == masked  # metastore admin: group admins
    assert rows(churn, "analysts", table) == []
    assert rows(churn, "churn-serving", table) == []


def test_churn_masks_rejected_raw_lines(churn: Metastore) -> None:
    raw = pl.LazyFrame({"raw": ["1,ann@a.com,xx", None], "reason": ["bad row", "empty"]})
    table = "bronze.customers_rejects"
    assert secure(raw, table, "ivy", churn).collect()["raw"].to_list() == ["***", "***"]
    assert secure(raw, table, "churn-pipeline", churn).collect().equals(raw.collect())


def test_tables_filtered_before_they_exist_are_declared_under_their_schemas_owner(
        churn: Metastore) -> None:
    bronze = churn.resolve("dev.bronze.customers")  # no table document yet
    assert (bronze.owner, bronze.row_filter["function"]) == ("data-eng", "dev.silver.tenant_rows")
    registered = churn.resolve("dev.silver.customers")  # registered by the fixture
    assert registered.owner == "data-eng" and registered.column_masks == {
        "email": {"function": "dev.silver.mask_email", "columns": []}}


def test_applying_the_churn_policy_again_changes_nothing(churn: Metastore) -> None:
    state, version = churn.store.read(), churn.store.version()
    apply_churn(churn)
    assert (churn.store.read(), churn.store.version()) == (state, version)


def test_stored_functions_round_trip_through_sqlglot(churn: Metastore) -> None:
    functions = [f for f in churn.children("dev.silver") if f.type == "FUNCTION"]
    assert {f.name for f in functions} == {
        "dev.silver.mask_email", "dev.silver.mask_pii_text", "dev.silver.tenant_rows"}
    for function in functions:
        d = function.definition
        body = sqlglot.parse_one(d["body"], read="databricks").sql("databricks")
        assert body == d["body"]
        parameters = ", ".join(f"{p['name']} {p['type']}" for p in d["parameters"])
        again = parse_function(f"CREATE FUNCTION {function.name}({parameters}) RETURNS "
                               f"{d['returns']} RETURN {d['body']}")
        assert (again.name, again.definition) == (function.name, d)


POLICY = """
groups: {{readers: []}}
functions:
  - {{name: silver.f, parameters: e STRING, returns: {returns}, body: "{body}"}}
{uses}
"""


@pytest.mark.parametrize(("returns", "body", "uses", "message"), [
    ("STRING", "mask(e)", "", r"functions\[0\]: function silver.f: .*unsupported function "
     "'mask'"),
    ("STRING", "e", "row_filters: [{table: silver.customers, function: silver.f, "
     "columns: [tenant_id, email]}]",
     r"row_filters\[0\]: function dev.silver.f takes 1 argument\(s\), called with 2"),
    ("STRING", "e", "column_masks: [{table: silver.customers, column: email, "
     "function: silver.f, using: [tenant_id]}]",
     r"column_masks\[0\]: function dev.silver.f takes 1 argument\(s\)"),
    ("STRING", "e", "column_masks: [{table: silver.customers, function: silver.f}]",
     r"column_masks\[0\]: missing column"),
    ("STRING", "e", "row_filters: [{table: silver.customers, function: silver.f, "
     "columns: tenant_id}]", r"row_filters\[0\]: columns are a list of column names"),
    ("STRING", "e", "row_filters: [{table: silver.customers, function: silver.f, "
     "on: [tenant_id]}]", r"row_filters\[0\]: missing columns; unknown field\(s\) True"),
])
def test_malformed_entries_name_the_entry_and_apply_nothing(
        root: str, tmp_path: Path, returns: str, body: str, uses: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.format(returns=returns, body=body, uses=uses))
    m = Metastore(root, "dev")
    with pytest.raises(PolicyError, match=message) as raised:
        apply_policy(path, metastore=m)
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)
    assert m.store.version() == 0


def test_a_policy_mask_reaches_readers_at_once(root: str, tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.format(
        returns="STRING", body="CASE WHEN is_member('readers') THEN e ELSE 'x' END",
        uses="column_masks: [{table: silver.customers, column: email, function: silver.f}]"))
    m = apply_policy(path, metastore=Metastore(root, "dev"))
    m.add_principal("rex")
    assert [r[1] for r in rows(m, "rex")] == ["x", "x", "x", "x"]
    m.add_principal("team", GROUP)
    m.add_member("team", "rex")
    m.add_member("readers", "team")
    assert [r[1] for r in rows(m, "rex")] == ["ann@a.com", "bo@b.org", None, "cy@c.net"]


def test_policy_arguments_may_be_constants(root: str, tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "functions:\n"
        "  - {name: silver.is_tenant, parameters: 't STRING, want STRING, n INT, b BOOLEAN',"
        " returns: BOOLEAN, body: t = want AND n = 3 AND b IS NULL}\n"
        "row_filters:\n"
        "  - {table: silver.customers, function: silver.is_tenant,\n"
        "     columns: [tenant_id, {literal: t-03}, {literal: 3}, {literal: null}]}\n")
    m = apply_policy(path, metastore=Metastore(root, "dev"))
    assert m.resolve("dev.silver.customers").row_filter["columns"] == [
        "tenant_id", {"literal": "'t-03'"}, {"literal": "3"}, {"literal": "NULL"}]
    assert [r[0] for r in rows(m, "anyone")] == [2, 3]
    path.write_text(path.read_text().replace("{literal: null}", "{value: 1}"))
    with pytest.raises(PolicyError, match=r"row_filters\[0\]: columns are a list of column "
                                          r"names and constants \(\{literal: value\}\), got"):
        apply_policy(path, metastore=m)
