"""A principal who may not see a table cannot learn from the Catalog whether it exists: every
governed call on a table name (reads, scans, changes, writes, check_read/check_write, the
metadata calls version/history/schema/describe/masked_columns, create_table) decides the
privilege first, so an existing and a missing table get the same PermissionDenied, holding no
storage path, audited once (403); a principal who holds the privileges is still told
TableNotFound for a missing table. Real Delta tables, the real metastore and audit log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.catalog.catalog import TableNotFound
from lakehouse_ml.governance import Metastore, PermissionDenied
from tests.governance.audit_support import params, records
from tests.governance.conftest import SCHEMA

EXISTING, MISSING = "dev.silver.customers", "dev.silver.gone"
ROW = pl.DataFrame({"id": [1], "email": ["a@x.io"], "tenant_id": ["t1"]})
Call = Callable[[Catalog, str], Any]
# entry point -> (the call, the privilege it needs: SELECT, MODIFY, or BROWSE to see metadata)
CALLS: dict[str, tuple[Call, str]] = {
    "read": (lambda c, t: c.read(t), "SELECT"),
    "scan": (lambda c, t: c.scan(t), "SELECT"),
    "changes": (lambda c, t: c.changes(t, 0, ["id"]), "SELECT"),
    "check_read": (lambda c, t: c.check_read(t, "get_online_features"), "SELECT"),
    "version": (lambda c, t: c.version(t), "BROWSE"),
    "history": (lambda c, t: c.history(t), "BROWSE"),
    "schema": (lambda c, t: c.schema(t), "BROWSE"),
    "describe": (lambda c, t: c.describe(t), "BROWSE"),
    "masked_columns": (lambda c, t: c.masked_columns(t), "BROWSE"),
    "append": (lambda c, t: c.append(t, ROW), "MODIFY"),
    "appender": (lambda c, t: c.appender(t), "MODIFY"),
    "overwrite": (lambda c, t: c.overwrite(t, ROW), "MODIFY"),
    "merge": (lambda c, t: c.merge(t, ROW, keys=["id"]), "MODIFY"),
    "delete": (lambda c, t: c.delete(t, "id = 1"), "MODIFY"),
    "optimize": (lambda c, t: c.optimize(t), "MODIFY"),
    "vacuum": (lambda c, t: c.vacuum(t, 168), "MODIFY"),
    "check_write": (lambda c, t: c.check_write(t, "forget"), "MODIFY"),
    "check_write (dry run)": (lambda c, t: c.check_write(t, "forget", audited=False),
                              "MODIFY"),
    "create_table": (lambda c, t: c.create_table(t, SCHEMA, TableInfo(
        owner="data-eng", column_tags={"email": ["pii"]})), "CREATE TABLE"),
}
# what ann holds -> the privilege the denial names first (None: the entry point's own)
HOLDINGS: dict[str, tuple[list[tuple[str, str, str]], str | None]] = {
    "nothing": ([], "USE CATALOG"),
    "USE CATALOG only": ([("USE CATALOG", "CATALOG", "dev")], "USE SCHEMA"),
    "USE CATALOG and USE SCHEMA": ([("USE CATALOG", "CATALOG", "dev"),
                                    ("USE SCHEMA", "SCHEMA", "silver")], None),
}


def _grant(metastore: Metastore, grants: list[tuple[str, str, str]]) -> None:
    for privilege, kind, name in grants:
        metastore.grant([privilege], kind, name, "ann")


def _denial(metastore: Metastore, call: Call, table: str) -> tuple[PermissionDenied, dict]:
    """The PermissionDenied ann gets for `call` on `table`, and the one audit record it
    leaves (asserted to be the only one)."""
    before = records(metastore).height
    with pytest.raises(PermissionDenied) as denied:
        call(Catalog(metastore.root, "dev", principal="ann"), table)
    rows = records(metastore).slice(before).to_dicts()
    assert len(rows) == 1, rows
    return denied.value, rows[0]


@pytest.mark.parametrize("holding", list(HOLDINGS))
@pytest.mark.parametrize("entry", list(CALLS))
def test_a_principal_who_may_not_see_the_table_gets_the_same_denial_whether_it_exists(
        metastore: Metastore, entry: str, holding: str) -> None:
    """Then, given USE CATALOG, USE SCHEMA and the entry point's privilege on the schema
    (inherited by a table of that name if there were one), a missing table is TableNotFound,
    as before (create_table creates it) and the existing one is allowed."""
    call, privilege = CALLS[entry]
    grants, first = HOLDINGS[holding]
    _grant(metastore, grants)
    Catalog(metastore.root, "dev").append(EXISTING, ROW)  # a table with rows and history
    admin = Catalog(metastore.root, "dev")
    assert admin.exists(EXISTING) and not admin.exists(MISSING)
    denials = [_denial(metastore, call, table) for table in (EXISTING, MISSING)]
    messages = [str(error).replace(table, "<table>")
                for (error, _), table in zip(denials, (EXISTING, MISSING), strict=True)]
    assert messages[0] == messages[1], messages  # the same answer: nothing about existence
    for error, record in denials:
        named = privilege if privilege == "BROWSE" else first or privilege  # see: BROWSE
        assert (error.principal, error.privilege) == ("ann", named)
        assert metastore.root not in str(error) and "expected at" not in str(error)
        assert "does not exist" not in str(error)
        assert (record["user"], record["status"], record["error"]) == ("ann", 403, str(error))
        assert metastore.root not in str(record["params"])
    assert denials[0][1]["action"] == denials[1][1]["action"]
    securables = [params(r)["securable"].replace(table, "<table>")
                  for (_, r), table in zip(denials, (EXISTING, MISSING), strict=True)]
    assert securables[0] == securables[1]

    _grant(metastore, [("USE CATALOG", "CATALOG", "dev"), ("USE SCHEMA", "SCHEMA", "silver"),
                       ("SELECT" if privilege == "BROWSE" else privilege, "SCHEMA", "silver")])
    ann = Catalog(metastore.root, "dev", principal="ann")
    before = records(metastore).height
    if entry == "create_table":
        call(ann, MISSING)
        assert admin.describe(MISSING).name == MISSING
        assert records(metastore).slice(before)["action"].to_list() == ["createTable"]
        return
    with pytest.raises(TableNotFound, match=f"table {MISSING} does not exist"):
        call(ann, MISSING)
    assert records(metastore).height == before  # nothing was read or written: no record
    call(ann, EXISTING)


def test_the_stand_in_answers_as_the_grants_on_the_containers_would(
        metastore: Metastore) -> None:
    """SELECT granted on the existing table alone (not on the schema): that table is
    readable, a missing one in the same schema is denied SELECT (no grant reaches it) and an
    ungoverned catalog still says where it expected it."""
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", "ann")
    metastore.grant(["USE SCHEMA"], "SCHEMA", "silver", "ann")
    metastore.grant(["SELECT"], "TABLE", EXISTING, "ann")
    ann = Catalog(metastore.root, "dev", principal="ann")
    assert ann.read(EXISTING).columns == list(SCHEMA)
    with pytest.raises(PermissionDenied, match="'ann' does not have SELECT on TABLE "
                       f"{MISSING}$"):
        ann.read(MISSING)
    ungoverned = Catalog(metastore.root, "dev", principal="ann", governed=False)
    with pytest.raises(TableNotFound, match=f"expected at {ungoverned.location(MISSING)}"):
        ungoverned.read(MISSING)


def test_create_table_of_an_existing_table_needs_create_table_and_changes_nothing(
        metastore: Metastore) -> None:
    """CREATE TABLE IF NOT EXISTS of a table that exists, as declared: MODIFY on it is not
    enough (Unity Catalog asks CREATE TABLE on the schema); with it, a no-op (no record, no
    new version); other metadata needs MODIFY too."""
    metastore.grant(["USE CATALOG"], "CATALOG", "dev", "ann")
    metastore.grant(["USE SCHEMA", "MODIFY"], "SCHEMA", "silver", "ann")
    ann = Catalog(metastore.root, "dev", principal="ann")
    info = TableInfo(owner="data-eng", column_tags={"email": ["pii"]})
    with pytest.raises(PermissionDenied, match="'ann' does not have CREATE TABLE on SCHEMA "
                       "dev.silver"):
        ann.create_table(EXISTING, SCHEMA, info)
    metastore.grant(["CREATE TABLE"], "SCHEMA", "silver", "ann")
    before, version = records(metastore).height, ann.version(EXISTING)
    assert ann.create_table(EXISTING, SCHEMA, info).info == info
    assert records(metastore).height == before and ann.version(EXISTING) == version
    metastore.revoke(["MODIFY"], "SCHEMA", "silver", "ann")
    with pytest.raises(PermissionDenied, match="'ann' does not have MODIFY on TABLE "):
        ann.create_table(EXISTING, SCHEMA, TableInfo(owner="data-eng", comment="new"))
