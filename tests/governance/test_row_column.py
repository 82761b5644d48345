"""Row filters and column masks evaluated as Databricks does (row_column.secure), per principal,
on rows read from a real Delta table."""

from __future__ import annotations

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.governance import GROUP, Metastore
from lakehouse_ml.governance.principals import local_user
from lakehouse_ml.governance.row_column import PolicyFunctionError, secure
from lakehouse_ml.governance.sql import run_sql

ROWS = pl.DataFrame({"id": [1, 2, 3, 4], "email": ["a@x.com", None, "c@z.io", "d@w.net"],
                     "tenant_id": ["t-01", "t-01", "t-02", None]})
MASK_EMAIL = ("CREATE FUNCTION silver.mask_email(email STRING) RETURNS STRING RETURN "
              "CASE WHEN is_account_group_member('pii-readers') THEN email "
              "ELSE regexp_replace(email, '^[^@]*', '***') END")
TENANT_ROWS = ("CREATE FUNCTION silver.tenant_rows(tenant_id STRING) RETURNS BOOLEAN RETURN "
               "is_account_group_member('all-tenants') "
               "OR is_account_group_member(concat('tenant-', tenant_id))")


def delta(root: str, rows: pl.DataFrame = ROWS, table: str = "silver.customers"
          ) -> pl.LazyFrame:
    """`rows` appended to the registered Delta table, scanned back (ungoverned)."""
    catalog = Catalog(root, "dev")
    uri = catalog.location(table)
    catalog.lake.append(uri, rows, label=table)
    return catalog.lake.scan(uri)


def read(m: Metastore, frame: pl.LazyFrame, principal: str, table: str = "silver.customers"
         ) -> list[tuple[object, ...]]:
    return secure(frame, table, principal, m).sort("id").collect().rows()


@pytest.fixture
def governed(metastore: Metastore) -> Metastore:
    """silver.customers masked by mask_email and filtered by tenant_rows; cast: olga owns the
    table; pia reads PII of every tenant; carl (in marketing ⊂ all-tenants) every tenant's
    rows; bob tenant t-01; ann (analysts ⊂ readers ⊂ pii-readers, analysts ⊂ tenant-t-02)
    tenant t-02 with PII, by nested membership only."""
    m = metastore
    for group in ("pii-readers", "all-tenants", "tenant-t-01", "tenant-t-02", "marketing"):
        m.add_principal(group, GROUP)
    for user in ("olga", "pia", "carl"):
        m.add_principal(user)
    for group, member in (("pii-readers", "pia"), ("all-tenants", "pia"),
                          ("marketing", "carl"), ("all-tenants", "marketing"),
                          ("tenant-t-01", "bob"), ("pii-readers", "readers"),
                          ("tenant-t-02", "analysts")):
        m.add_member(group, member)
    for statement in (MASK_EMAIL, TENANT_ROWS,
                      "ALTER TABLE silver.customers OWNER TO olga",
                      "ALTER TABLE silver.customers ALTER COLUMN email SET MASK "
                      "silver.mask_email",
                      "ALTER TABLE silver.customers SET ROW FILTER silver.tenant_rows "
                      "ON (tenant_id)"):
        run_sql(m, statement)
    return m


def test_each_principal_sees_its_rows_with_pii_masked_unless_a_pii_reader(
        governed: Metastore, root: str) -> None:
    frame = delta(root)
    masked = [(1, "***@x.com", "t-01"), (2, None, "t-01"), (3, "***@z.io", "t-02"),
              (4, "***@w.net", None)]
    assert read(governed, frame, "pia") == ROWS.rows()
    assert read(governed, frame, "carl") == masked  # analyst of every tenant, via nesting
    assert read(governed, frame, "bob") == masked[:2]  # tenant reader
    assert read(governed, frame, "ann") == [(3, "c@z.io", "t-02")]  # nested, two levels
    assert read(governed, frame, "olga") == []  # the owner is filtered like anyone
    assert read(governed, frame, "nobody-declared") == []
    assert read(governed, frame, local_user()) == []  # admins: not in all-tenants here


def test_false_and_null_drop_rows(metastore: Metastore, root: str) -> None:
    run_sql(metastore, "CREATE FUNCTION silver.keep(t STRING) RETURNS BOOLEAN RETURN "
                       "CASE WHEN t = 't-01' THEN TRUE WHEN t = 't-02' THEN FALSE END")
    run_sql(metastore, "ALTER TABLE silver.customers SET ROW FILTER silver.keep ON (tenant_id)")
    # t-01: TRUE, t-02: FALSE, NULL tenant: NULL
    assert [r[0] for r in read(metastore, delta(root), "ann")] == [1, 2]


def test_current_user_is_the_reader(metastore: Metastore, root: str) -> None:
    run_sql(metastore, "CREATE FUNCTION silver.mine(t STRING) RETURNS BOOLEAN RETURN "
                       "t = concat('t-', current_user()) OR session_user() = 'bob'")
    run_sql(metastore, "ALTER TABLE silver.customers SET ROW FILTER silver.mine ON (tenant_id)")
    metastore.add_principal("02")
    frame = delta(root)
    assert [r[0] for r in read(metastore, frame, "02")] == [3]
    assert [r[0] for r in read(metastore, frame, "bob")] == [1, 2, 3, 4]
    assert read(metastore, frame, "ann") == []


def test_filter_then_masks_each_on_the_raw_values(metastore: Metastore, root: str) -> None:
    """The filter reads the unmasked email; a mask's USING column is the raw value even
    when that column is masked too."""
    for statement in (
            "CREATE FUNCTION silver.on_x(e STRING) RETURNS BOOLEAN RETURN e LIKE '%@x.com'",
            "CREATE FUNCTION silver.by_tenant(e STRING, t STRING) RETURNS STRING RETURN "
            "CASE WHEN t = 't-01' THEN e ELSE 'hidden' END",
            "CREATE FUNCTION silver.redact(t STRING) RETURNS STRING RETURN '***'",
            "ALTER TABLE silver.customers SET ROW FILTER silver.on_x ON (email)",
            "ALTER TABLE silver.customers ALTER COLUMN email SET MASK silver.by_tenant "
            "USING COLUMNS (tenant_id)",
            "ALTER TABLE silver.customers ALTER COLUMN tenant_id SET MASK silver.redact"):
        run_sql(metastore, statement)
    rows = pl.DataFrame({"id": [1, 2], "email": ["a@x.com", "b@x.com"],
                         "tenant_id": ["t-01", "t-02"]})
    assert read(metastore, delta(root, rows), "ann") == [(1, "a@x.com", "***"),
                                                         (2, "hidden", "***")]
    # a predicate added after secure sees the masked values only
    late = secure(delta(root, rows.head(0)), "silver.customers", "ann", metastore)
    assert late.filter(pl.col("email") == "b@x.com").collect().height == 0


def test_a_mask_on_a_column_with_nulls(metastore: Metastore, root: str) -> None:
    run_sql(metastore, "CREATE FUNCTION silver.star(e STRING) RETURNS STRING RETURN "
                       "CASE WHEN e IS NULL THEN 'none' ELSE '***' END")
    run_sql(metastore, "ALTER TABLE silver.customers ALTER COLUMN email SET MASK silver.star")
    assert [r[1] for r in read(metastore, delta(root), "ann")] == ["***", "none", "***", "***"]


NUMBERS = pl.DataFrame({"id": [1, 2, 3], "amount": [12.6, None, 7.25], "visits": [17, 3, None],
                        "email": ["a@x.com", "b@y.com", None]})


@pytest.fixture
def numbers(root: str) -> Catalog:
    catalog = Catalog(root, "dev")
    catalog.create_table("silver.numbers", NUMBERS.schema, TableInfo(owner="data-eng"))
    return catalog


def test_masks_keep_the_column_types(metastore: Metastore, numbers: Catalog, root: str
                                     ) -> None:
    for statement in (
            "CREATE FUNCTION silver.whole(a DOUBLE) RETURNS DECIMAL(10, 0) RETURN round(a, 0)",
            "CREATE FUNCTION silver.tens(v INT) RETURNS INT RETURN CAST(v / 10 AS INT) * 10",
            "CREATE FUNCTION silver.hide(e STRING) RETURNS STRING RETURN left(e, 1) || '***'",
            "ALTER TABLE silver.numbers ALTER COLUMN amount SET MASK silver.whole",
            "ALTER TABLE silver.numbers ALTER COLUMN visits SET MASK silver.tens",
            "ALTER TABLE silver.numbers ALTER COLUMN email SET MASK silver.hide"):
        run_sql(metastore, statement)
    frame = delta(root, NUMBERS, "silver.numbers")
    result = secure(frame, "silver.numbers", "ann", metastore).sort("id").collect()
    assert result.schema == frame.collect_schema()  # Float64, Int64, String as stored
    assert result.rows() == [(1, 13.0, 10, "a***"), (2, None, 0, "b***"), (3, 7.0, None, None)]


def test_a_mask_that_errors_fails_closed(metastore: Metastore, numbers: Catalog, root: str
                                         ) -> None:
    """A value the mask cannot compute or that does not fit the column fails the read: the
    clear value is never returned instead."""
    run_sql(metastore, "CREATE FUNCTION silver.as_int(e STRING) RETURNS INT RETURN "
                       "CAST(e AS INT)")
    run_sql(metastore, "CREATE FUNCTION silver.words(v INT) RETURNS STRING RETURN 'many'")
    run_sql(metastore, "ALTER TABLE silver.numbers ALTER COLUMN email SET MASK silver.as_int")
    frame = delta(root, NUMBERS, "silver.numbers")
    with pytest.raises(pl.exceptions.InvalidOperationError, match="conversion from `str`"):
        secure(frame, "silver.numbers", "ann", metastore).collect()
    run_sql(metastore, "ALTER TABLE silver.numbers ALTER COLUMN email DROP MASK")
    run_sql(metastore, "ALTER TABLE silver.numbers ALTER COLUMN visits SET MASK silver.words")
    with pytest.raises(PolicyFunctionError, match=r"function dev.silver.words: its result does "
                       r"not fit column visits \(Int64\)"):
        secure(frame, "silver.numbers", "ann", metastore)


@pytest.mark.parametrize(("body", "construct"), [
    ("EXISTS (SELECT 1 FROM silver.tenants AS m WHERE m.tenant = e)", "a subquery"),
    ("e IN (SELECT tenant FROM silver.tenants)", "a subquery"),
    ("count(e) > 0", "an aggregate function"),
    ("row_number() OVER (ORDER BY e) = 1", "a window function"),
    ("sha2(e, 256) = 'x'", "unsupported function 'sha256'"),
    ("mask(e) = 'x'", "unsupported function 'mask'"),
    ("other_column = 'x'", "other_column is not one of its parameters"),
    ("exists(array(e), x -> x = 'a')", "a lambda function"),
])
def test_unsupported_sql_is_refused_at_create_function(
        metastore: Metastore, body: str, construct: str) -> None:
    with pytest.raises(ValueError, match=f"function silver.f: .*{construct}") as raised:
        run_sql(metastore, f"CREATE FUNCTION silver.f(e STRING) RETURNS BOOLEAN RETURN {body}")
    assert "\n" not in str(raised.value)
    assert metastore.store.read()["securables"] == {}


def test_a_function_that_cannot_run_denies_the_read(metastore: Metastore, root: str) -> None:
    """Declared through the Python API (no check at creation): refused at first use, naming
    the table, the principal, the function and the construct."""
    metastore.create("FUNCTION", "silver.legacy", definition={
        "parameters": [{"name": "e", "type": "STRING"}], "returns": "STRING",
        "body": "mask(e)"})
    metastore.set_column_mask("silver.customers", "email", "silver.legacy")
    frame = delta(root)
    with pytest.raises(PolicyFunctionError, match=r"cannot read table dev.silver.customers as "
                       r"'ann': function dev.silver.legacy: .*unsupported function 'mask'"):
        secure(frame, "silver.customers", "ann", metastore)


@pytest.mark.parametrize(("setup", "message"), [
    (["CREATE FUNCTION silver.two(e STRING, t STRING) RETURNS STRING RETURN e",
      "ALTER TABLE silver.customers ALTER COLUMN email SET MASK silver.two"],
     r"function dev.silver.two takes 2 argument\(s\), called with 1$"),
    (["CREATE FUNCTION silver.one(e STRING) RETURNS STRING RETURN e",
      "ALTER TABLE silver.customers ALTER COLUMN email SET MASK silver.one USING COLUMNS (id)"],
     r"function dev.silver.one takes 1 argument\(s\), called with 2$"),
    (["CREATE FUNCTION silver.txt(t STRING) RETURNS STRING RETURN t",
      "ALTER TABLE silver.customers SET ROW FILTER silver.txt ON (tenant_id)"],
     "function dev.silver.txt returns STRING, a row filter must return BOOLEAN"),
])
def test_a_function_that_does_not_fit_is_refused_when_set(
        metastore: Metastore, setup: list[str], message: str) -> None:
    *create, alter = setup
    for statement in create:
        run_sql(metastore, statement)
    with pytest.raises(ValueError, match=message):
        run_sql(metastore, alter)
    table = metastore.resolve("dev.silver.customers")
    assert (table.row_filter, table.column_masks) == (None, {})


@pytest.mark.parametrize(("setup", "message"), [
    (["CREATE FUNCTION silver.two(e STRING) RETURNS STRING RETURN e",
      "ALTER TABLE silver.customers ALTER COLUMN email SET MASK silver.two",
      "CREATE OR REPLACE FUNCTION silver.two(e STRING, t STRING) RETURNS STRING RETURN e"],
     r"function dev.silver.two takes 2 argument\(s\), called with 1 \(email\)"),
    (["CREATE FUNCTION silver.txt(t STRING) RETURNS BOOLEAN RETURN TRUE",
      "ALTER TABLE silver.customers SET ROW FILTER silver.txt ON (tenant_id)",
      "CREATE OR REPLACE FUNCTION silver.txt(t STRING) RETURNS STRING RETURN t"],
     "row filter function dev.silver.txt returns STRING, not BOOLEAN"),
    (["CREATE FUNCTION silver.undeclared(t STRING) RETURN t",
      "ALTER TABLE silver.customers SET ROW FILTER silver.undeclared ON (tenant_id)"],
     "row filter function dev.silver.undeclared returns String, not BOOLEAN"),
    (["CREATE FUNCTION silver.k(t STRING) RETURNS BOOLEAN RETURN TRUE",
      "ALTER TABLE silver.customers SET ROW FILTER silver.k ON (region)"],
     "argument column\\(s\\) region not in the rows read"),
])
def test_a_policy_that_no_longer_fits_denies_the_read(
        metastore: Metastore, root: str, setup: list[str], message: str) -> None:
    """The function replaced after it was set, a body of no declared type, a column gone."""
    for statement in setup:
        run_sql(metastore, statement)
    with pytest.raises(PolicyFunctionError, match=message):
        secure(delta(root), "silver.customers", "ann", metastore)


def test_a_projection_without_the_masked_column_is_left_alone(
        governed: Metastore, root: str) -> None:
    frame = delta(root)
    assert secure(frame.select("id", "tenant_id"), "silver.customers", "bob", governed
                  ).collect().rows() == [(1, "t-01"), (2, "t-01")]
    with pytest.raises(PolicyFunctionError, match="tenant_id not in the rows read"):
        secure(frame.select("id", "email"), "silver.customers", "bob", governed)


def test_a_table_without_policy_is_returned_as_is(governed: Metastore, root: str) -> None:
    frame = delta(root, table="silver.events")
    assert secure(frame, "dev.silver.events", "bob", governed) is frame
    run_sql(governed, "ALTER TABLE silver.customers DROP ROW FILTER")
    run_sql(governed, "ALTER TABLE silver.customers ALTER COLUMN email DROP MASK")
    frame = delta(root)
    assert secure(frame, "silver.customers", "bob", governed) is frame


def test_membership_changes_take_effect_at_the_next_read(governed: Metastore, root: str
                                                         ) -> None:
    frame = delta(root)
    assert read(governed, frame, "bob")[0][1] == "***@x.com"
    governed.add_member("pii-readers", "bob")
    assert read(governed, frame, "bob")[0][1] == "a@x.com"
    governed.remove_member("tenant-t-01", "bob")
    assert read(governed, frame, "bob") == []


def test_folded_away_for_members_whom_they_let_through(governed: Metastore, root: str
                                                       ) -> None:
    """pia is in all-tenants and pii-readers: the filter folds to TRUE and the mask to the
    column itself, so her read is the plain frame; carl's plan still masks and bob's filters."""
    frame = delta(root)
    assert secure(frame, "silver.customers", "pia", governed) is frame
    def plan(principal: str) -> str:
        return secure(frame, "silver.customers", principal, governed).explain(optimized=False)

    assert "FILTER" not in plan("carl") and "replace" in plan("carl")
    assert "FILTER" in plan("bob")


def test_a_change_made_elsewhere_is_seen_at_the_next_read(governed: Metastore, root: str
                                                          ) -> None:
    frame = delta(root)
    assert read(governed, frame, "bob")[0][1] == "***@x.com"
    Metastore(root, "dev").add_member("pii-readers", "bob")  # e.g. another process
    assert read(governed, frame, "bob")[0][1] == "a@x.com"


def test_arguments_are_cast_to_the_parameter_types(metastore: Metastore, numbers: Catalog,
                                                   root: str) -> None:
    """`visits` (BIGINT) is passed to a STRING parameter; the STRING result is cast back."""
    run_sql(metastore, "CREATE FUNCTION silver.digits(v STRING) RETURNS STRING RETURN "
                       "CASE WHEN length(v) > 1 THEN v ELSE '0' END")
    run_sql(metastore, "ALTER TABLE silver.numbers ALTER COLUMN visits SET MASK silver.digits")
    result = secure(delta(root, NUMBERS, "silver.numbers"), "silver.numbers", "ann",
                    metastore).sort("id").collect()
    assert result["visits"].dtype == pl.Int64
    assert result["visits"].to_list() == [17, 0, 0]  # NULL: length NULL, not > 1


def test_names_with_quotes_stay_literals(metastore: Metastore, root: str) -> None:
    """The reader's name and groups are bound as SQL literals, not spliced into the text;
    the group argument of is_member may be an expression over a parameter not named like
    its column. (Databricks escapes a quote with a backslash.)"""
    run_sql(metastore, "CREATE FUNCTION silver.me(t STRING) RETURNS BOOLEAN RETURN "
                       "current_user() = 'x\\' OR \\'1\\'=\\'1' OR is_member(t)")
    run_sql(metastore, "ALTER TABLE silver.customers SET ROW FILTER silver.me ON (tenant_id)")
    for name in ("x' OR '1'='1", "t-01' OR 'a'='a"):
        metastore.add_principal(name, GROUP if name.startswith("t-") else "user")
    metastore.add_member("t-01' OR 'a'='a", "bob")
    frame = delta(root)
    assert [r[0] for r in read(metastore, frame, "x' OR '1'='1")] == [1, 2, 3, 4]
    assert read(metastore, frame, "bob") == []
    assert read(metastore, frame, "x") == []


def test_constant_arguments_and_a_filter_without_columns(metastore: Metastore, numbers: Catalog,
                                                         root: str) -> None:
    """Databricks' ON (...) and USING COLUMNS (...) take constants too; ON () none at all."""
    for statement in (
            "CREATE FUNCTION silver.is_tenant(t STRING, want STRING) RETURNS BOOLEAN RETURN "
            "t = want",
            "ALTER TABLE silver.customers SET ROW FILTER silver.is_tenant ON (tenant_id, 't-01')",
            "CREATE FUNCTION silver.pick(v INT, d INT, n STRING, b BOOLEAN, x DOUBLE) "
            "RETURNS INT RETURN CASE WHEN b AND n IS NULL AND x > 0 THEN d ELSE v END",
            "ALTER TABLE silver.numbers ALTER COLUMN visits SET MASK silver.pick "
            "USING COLUMNS (-5, NULL, TRUE, 0.5)",
            "CREATE FUNCTION silver.admins_only() RETURNS BOOLEAN RETURN is_member('admins')",
            "ALTER TABLE silver.numbers SET ROW FILTER silver.admins_only ON ()"):
        run_sql(metastore, statement)
    assert metastore.resolve("dev.silver.customers").row_filter["columns"] == [
        "tenant_id", {"literal": "'t-01'"}]
    assert [r[0] for r in read(metastore, delta(root), "ann")] == [1, 2]
    numbers_frame = delta(root, NUMBERS, "silver.numbers")
    assert read(metastore, numbers_frame, "ann", "silver.numbers") == []
    assert [r[2] for r in read(metastore, numbers_frame, local_user(), "silver.numbers")
            ] == [-5, -5, -5]


@pytest.mark.parametrize(("clause", "message"), [
    ("SET ROW FILTER silver.f ON (tenant_id + 1)", r"expected '\)' at '\+'"),
    ("SET ROW FILTER silver.f ON (-tenant_id)", "expected a column name or a constant at '-'"),
    ("ALTER COLUMN email SET MASK silver.f USING COLUMNS ()",
     r"expected a column name or a constant at '\)'"),
])
def test_arguments_other_than_columns_and_constants_are_refused(
        metastore: Metastore, clause: str, message: str) -> None:
    run_sql(metastore, "CREATE FUNCTION silver.f(t STRING) RETURNS BOOLEAN RETURN TRUE")
    with pytest.raises(ValueError, match=message):
        run_sql(metastore, f"ALTER TABLE silver.customers {clause}")


def test_a_malformed_stored_function_denies_the_read(metastore: Metastore, root: str) -> None:
    metastore.create("FUNCTION", "silver.odd", definition={"parameters": [{"name": "e"}],
                                                           "body": "e"})
    metastore.set_column_mask("silver.customers", "email", "silver.odd")
    with pytest.raises(PolicyFunctionError, match=r"function dev.silver.odd: malformed "
                                                  r"definition \(KeyError: 'type'\)"):
        secure(delta(root), "silver.customers", "ann", metastore)


@pytest.mark.parametrize(("group", "kept", "rewritten"), [
    ("concat('tenant-', tenant_id)", [1, 2], True),  # bob is in tenant-t-01
    ("'tenant-' || tenant_id", [1, 2], True),
    ("concat('team-', CAST(id AS STRING), '-r')", [3], True),  # and in team-3-r
    ("concat('team-', id, '-r')", [3], True),
    ("concat_ws('-', 'tenant', tenant_id)", [1, 2], False),  # the separator is no prefix
    ("concat(tenant_id, email)", [], False),  # two columns: built per row
])
def test_membership_of_a_name_built_from_columns(metastore: Metastore, root: str, group: str,
                                                 kept: list[int], rewritten: bool) -> None:
    """`concat('tenant-', x) IN (groups)` is evaluated as `x IN (groups without 'tenant-')`,
    with the same rows kept (a NULL x keeps none), and no string built per row."""
    for name in ("tenant-t-01", "team-3-r", "tenant-"):
        metastore.add_principal(name, GROUP)
        metastore.add_member(name, "bob")
    run_sql(metastore, "CREATE FUNCTION silver.mine(id BIGINT, tenant_id STRING, email STRING) "
                       f"RETURNS BOOLEAN RETURN is_account_group_member({group})")
    run_sql(metastore, "ALTER TABLE silver.customers SET ROW FILTER silver.mine "
                       "ON (id, tenant_id, email)")
    frame = delta(root)
    assert [r[0] for r in read(metastore, frame, "bob")] == kept
    plan = secure(frame, "silver.customers", "bob", metastore).explain(optimized=False)
    assert ("concat" not in plan) == rewritten
