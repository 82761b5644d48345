"""Governance SQL as Databricks users type it: round trips and one clear error per mistake."""

from __future__ import annotations

import pytest

from lakehouse_ml.governance import Metastore, PermissionDenied, UnknownPrincipal
from lakehouse_ml.governance.securables import UnknownSecurable
from lakehouse_ml.governance.sql import SqlError, run_sql


def grants(m: Metastore, on: str) -> set[tuple[str, str, str]]:
    return {(r["principal"], r["action_type"], f"{r['object_type']} {r['object_key']}")
            for r in run_sql(m, f"SHOW GRANTS ON {on}").rows}


def test_show_grants_shows_what_grant_gave_and_revoke_removes_it(metastore: Metastore) -> None:
    run_sql(metastore, "GRANT SELECT, MODIFY ON TABLE dev.silver.customers TO `analysts`")
    run_sql(metastore, "grant use schema on schema silver to analysts;")
    run_sql(metastore, "GRANT ALL PRIVILEGES ON CATALOG dev TO `ann`")
    assert grants(metastore, "TABLE dev.silver.customers") == {
        ("analysts", "SELECT", "TABLE dev.silver.customers"),
        ("analysts", "MODIFY", "TABLE dev.silver.customers"),
        ("analysts", "USE SCHEMA", "SCHEMA dev.silver"),  # inherited, shown with its object
        ("ann", "ALL PRIVILEGES", "CATALOG dev")}
    only = run_sql(metastore, "SHOW GRANTS `analysts` ON SCHEMA dev.silver").rows
    assert only == [{"principal": "analysts", "action_type": "USE SCHEMA",
                     "object_type": "SCHEMA", "object_key": "dev.silver"}]
    run_sql(metastore, "REVOKE MODIFY ON TABLE dev.silver.customers FROM `analysts`")
    run_sql(metastore, "REVOKE ALL PRIVILEGES ON CATALOG dev FROM ann")
    assert grants(metastore, "TABLE dev.silver.customers") == {
        ("analysts", "SELECT", "TABLE dev.silver.customers"),
        ("analysts", "USE SCHEMA", "SCHEMA dev.silver")}


def test_grant_and_revoke_act_as_the_given_principal(metastore: Metastore) -> None:
    with pytest.raises(PermissionDenied, match="'bob' does not have MANAGE"):
        run_sql(metastore, "GRANT SELECT ON TABLE silver.customers TO ann", as_principal="bob")
    assert grants(metastore, "TABLE silver.customers") == set()


def test_owner_to_and_tags(metastore: Metastore) -> None:
    run_sql(metastore, "ALTER TABLE dev.silver.customers OWNER TO `bob`")
    run_sql(metastore, "ALTER SCHEMA dev.silver OWNER TO ann")
    run_sql(metastore, "ALTER TABLE dev.silver.customers SET TAGS ('layer' = 'silver', 'x')")
    run_sql(metastore, "ALTER TABLE silver.customers ALTER COLUMN email SET TAGS "
                       "('pii' = 'email', 'class' = 'contact')")
    run_sql(metastore, "ALTER TABLE silver.customers ALTER COLUMN email UNSET TAGS ('class')")
    table = metastore.resolve("dev.silver.customers")
    assert (table.owner, metastore.resolve("dev.silver").owner) == ("bob", "ann")
    assert table.tags == {"layer": "silver", "x": ""}
    assert table.column_tags == {"email": {"pii": "email"}}
    run_sql(metastore, "ALTER TABLE silver.customers UNSET TAGS ('x')")
    assert metastore.resolve("dev.silver.customers").tags == {"layer": "silver"}


def test_apply_tag_lets_a_non_owner_tag(metastore: Metastore) -> None:
    statement = "ALTER TABLE silver.customers SET TAGS ('reviewed' = 'yes')"
    with pytest.raises(PermissionDenied, match="'ann' does not have USE CATALOG"):
        run_sql(metastore, statement, as_principal="ann")
    for sql in ("GRANT USE CATALOG ON CATALOG dev TO ann",
                "GRANT USE SCHEMA, APPLY TAG ON SCHEMA silver TO ann"):
        run_sql(metastore, sql)
    run_sql(metastore, statement, as_principal="ann")
    assert metastore.resolve("dev.silver.customers").tags["reviewed"] == "yes"


def test_functions_row_filters_and_masks_are_stored(metastore: Metastore) -> None:
    run_sql(metastore, "CREATE FUNCTION dev.silver.mask_email(email STRING, t STRING) "
                       "RETURNS STRING RETURN CASE WHEN is_account_group_member('pii-readers') "
                       "THEN email ELSE '***' END")
    run_sql(metastore, "CREATE OR REPLACE FUNCTION silver.tenant_rows(t STRING) "
                       "RETURNS BOOLEAN RETURN t = current_user()")
    run_sql(metastore, "ALTER TABLE silver.customers SET ROW FILTER silver.tenant_rows "
                       "ON (tenant_id)")
    run_sql(metastore, "ALTER TABLE silver.customers ALTER COLUMN email SET MASK "
                       "silver.mask_email USING COLUMNS (tenant_id)")
    table = metastore.resolve("dev.silver.customers")
    assert table.row_filter == {"function": "dev.silver.tenant_rows", "columns": ["tenant_id"]}
    assert table.column_masks == {"email": {"function": "dev.silver.mask_email",
                                            "columns": ["tenant_id"]}}
    mask = metastore.resolve("dev.silver.mask_email").definition
    assert mask["parameters"] == [{"name": "email", "type": "STRING"},
                                  {"name": "t", "type": "STRING"}]
    assert mask["returns"] == "STRING"
    assert mask["body"] == ("CASE WHEN IS_ACCOUNT_GROUP_MEMBER('pii-readers') THEN email "
                            "ELSE '***' END")
    with pytest.raises(ValueError, match="function dev.silver.mask_email already exists"):
        run_sql(metastore, "CREATE FUNCTION silver.mask_email(e STRING) RETURNS STRING "
                           "RETURN e")
    run_sql(metastore, "ALTER TABLE silver.customers DROP ROW FILTER")
    run_sql(metastore, "ALTER TABLE silver.customers ALTER COLUMN email DROP MASK")
    table = metastore.resolve("dev.silver.customers")
    assert (table.row_filter, table.column_masks) == (None, {})


def test_a_mask_needs_execute_on_its_function(metastore: Metastore) -> None:
    run_sql(metastore, "CREATE FUNCTION silver.m(e STRING) RETURNS STRING RETURN '*'")
    run_sql(metastore, "ALTER TABLE silver.customers OWNER TO bob")
    for sql in ("GRANT USE CATALOG ON CATALOG dev TO bob", "GRANT USE SCHEMA ON SCHEMA silver "
                "TO bob"):
        run_sql(metastore, sql)
    statement = "ALTER TABLE silver.customers ALTER COLUMN email SET MASK silver.m"
    with pytest.raises(PermissionDenied, match="'bob' does not have EXECUTE on FUNCTION "
                                               "dev.silver.m"):
        run_sql(metastore, statement, as_principal="bob")
    run_sql(metastore, "GRANT EXECUTE ON FUNCTION silver.m TO bob")
    run_sql(metastore, statement, as_principal="bob")


@pytest.mark.parametrize(("statement", "error", "message"), [
    ("GRANT SELECT ON TABL dev.silver.customers TO ann", SqlError,
     r"expected TO at 'dev' \(line 1"),
    ("GRANT SELECT ON TABLE dev.silver.customers", SqlError, "expected TO at the end"),
    ("GRANT SELECT ON TABLE dev.silver.customers TO ann bob", SqlError,
     "expected the end of the statement at 'bob'"),
    ("GRANT SELECT ON TABLE dev.silver.customers TO ann; DROP TABLE x", SqlError,
     "expected the end of the statement at ';'"),
    ("GRANT ON TABLE dev.silver.customers TO ann", SqlError, "expected a privilege"),
    ("GRANT SELEC ON TABLE dev.silver.customers TO ann", ValueError,
     "unknown privilege 'SELEC'"),
    ("GRANT SELECT ON TABLE dev.silver.nope TO ann", UnknownSecurable,
     "table dev.silver.nope does not exist"),
    ("GRANT SELECT ON TABLE dev.silver.customers TO `carol`", UnknownPrincipal,
     "principal 'carol' does not exist"),
    ("GRANT SELECT ON TABLE a.b.c.d TO ann", ValueError, "invalid table name 'a.b.c.d'"),
    ("SHOW GRANTS ON", SqlError, "expected a securable name at the end"),
    ("ALTER TABLE silver.customers SET TAGS ('a' = 'b'", SqlError, r"expected '\)' at the end"),
    ("ALTER TABLE silver.customers SET TAGS (a = 'b')", SqlError,
     "expected a tag key \\(a string\\) at 'a'"),
    ("ALTER VIEW silver.customers OWNER TO ann", SqlError,
     "expected CATALOG, SCHEMA, TABLE, FUNCTION or MODEL at 'VIEW'"),
    ("ALTER TABLE silver.customers RENAME TO x", SqlError, "expected OWNER TO, SET TAGS"),
    ("DROP TABLE silver.customers", SqlError, "expected GRANT, REVOKE, SHOW GRANTS"),
    ("SELECT 'unterminated", SqlError, "cannot read the statement"),
    ("CREATE TABLE t (a INT)", SqlError, "only CREATE \\[OR REPLACE\\] FUNCTION"),
    ("CREATE FUNCTION f(x INT) RETURNS INT LANGUAGE PYTHON AS $$ return 1 $$", SqlError,
     "only CREATE"),
    ("   ", SqlError, "empty statement"),
    ("GRANT SELECT ON TABLE t TO ann " + "x" * 100_000, SqlError, "longer than 100000"),
])
def test_malformed_statements_give_one_clear_error(
        metastore: Metastore, statement: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as raised:
        run_sql(metastore, statement)
    assert "\n" not in str(raised.value)
    assert metastore.show_grants("TABLE", "silver.customers") == []
