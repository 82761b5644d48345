"""Tests killing the mutants of `lakehouse_ml.catalog.owned_rows` that survived
`test_progress_rows`: the denials' exact messages, privilege and audit records
(`request_params`: securable, row_table), the denial of an undecidable write naming the
error's type, the union of the owners of added rows and of the stored rows a write replaces
or a merge matches, `only` keeping a predicate, and the admin check made of the principal
acting (writes and reads). Real Delta tables, the real metastore and every domain's derived
grants, as `test_progress_rows` builds them.

Equivalent mutant (no test can kill it):
- x__touched__mutmut_28 (merge's stored-row join without how="semi", i.e. inner): the join
  is on the keys and only the keys of the added rows are joined, so the inner join yields the
  same stored rows (repeated for repeated keys) and the set of their owners is the same.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.catalog.access import Access
from lakehouse_ml.catalog.names import TableName
from lakehouse_ml.catalog.owned_rows import RowWrite, check_write, only, visible_rows
from lakehouse_ml.config import Settings
from lakehouse_ml.governance import Metastore, PermissionDenied
from lakehouse_ml.governance.audit import audit_log
from lakehouse_ml.governance.audit_chain import TABLE as AUDIT
from lakehouse_ml.governance.principals import local_user
from lakehouse_ml.medallion.progress import TABLE as PROGRESS
from tests.governance.test_progress_rows import CHURN, FOREIGN, OWN, as_, rows, stored
from tests.governance.test_progress_rows import lakehouse as lakehouse  # noqa: F401 - fixture

FULL = f"dev.{PROGRESS}"
NO_TABLE = "a row naming no table: only a metastore admin writes one"


def foreign_message(owner: str) -> str:
    return (f"permission denied: '{CHURN}' does not have MODIFY on TABLE {owner} (needed to "
            f"write its rows in {FULL}: a principal writes only the rows of tables it may "
            "MODIFY)")


@pytest.fixture
def checked(lakehouse: Settings) -> Iterator[tuple[Access, Catalog, TableName, str]]:  # noqa: F811
    """The access, the admin's catalog, the table's name and location for `check_write`."""
    admin = Catalog(lakehouse.root, lakehouse.env)
    yield (Access(lakehouse.root, lakehouse.env), admin, TableName.parse(PROGRESS, "dev"),
           admin.location(PROGRESS))


@pytest.fixture
def seen(lakehouse: Settings, checked: tuple[Access, Catalog, TableName, str]  # noqa: F811
         ) -> tuple[Access, Catalog, TableName, str]:
    """`checked`, churn's pipeline granted SELECT on fleet's table: it may see it, so a
    denial names it (`owned_rows.check_write`)."""
    Metastore(lakehouse.root, lakehouse.env).grant(["SELECT"], "TABLE", FOREIGN, CHURN)
    return checked


def check(checked: tuple[Access, Catalog, TableName, str], write: RowWrite,
          principal: str = CHURN) -> list[str] | None:
    access, admin, name, uri = checked
    return check_write(access, admin.lake, principal, name, uri, write)


def denials(settings: Settings) -> list[tuple[str, list[tuple[str, str]]]]:
    """(error message, request_params) of each 403 record of CHURN, in order."""
    audit_log(settings.root, settings.env).flush()
    log = Catalog(settings.root, settings.env, governed=False).read(AUDIT).filter(
        pl.col("user_identity").struct.field("email") == CHURN,
        pl.col("response").struct.field("status_code") == 403)
    return [(r["response"]["error_message"], [(p["key"], p["value"])
                                              for p in r["request_params"]])
            for r in log.iter_rows(named=True)]


def test_a_foreign_rows_denial_names_modify_and_its_audit_record_names_the_row_table(
        lakehouse: Settings, seen: tuple[Access, Catalog, TableName, str]) -> None:  # noqa: F811
    with pytest.raises(PermissionDenied) as denied:
        check(seen, RowWrite(rows(OWN, FOREIGN)))

    assert str(denied.value) == foreign_message(FOREIGN)
    assert (denied.value.privilege, denied.value.securable) == ("MODIFY", f"TABLE {FOREIGN}")
    assert denials(lakehouse)[-1] == (foreign_message(FOREIGN), [
        ("securable", f"TABLE {FULL}"), ("row_table", FOREIGN)])


def test_every_rows_table_is_checked_after_one_it_may_modify(
        seen: tuple[Access, Catalog, TableName, str]) -> None:
    """Its own table's row sorts first here (OWN sorts after FOREIGN): the check goes on."""
    first = "dev.gold.customer_engagement"
    assert first < FOREIGN and check(seen, RowWrite(rows(first))) == [first]
    with pytest.raises(PermissionDenied) as denied:
        check(seen, RowWrite(rows(first, FOREIGN)))
    assert str(denied.value) == foreign_message(FOREIGN)


def test_a_row_of_a_table_it_may_not_see_is_denied_on_the_table_written_unnamed(
        lakehouse: Settings, checked: tuple[Access, Catalog, TableName, str]) -> None:  # noqa: F811
    """Only the audit record (read by admins) names the row's table."""
    expected = (f"permission denied: '{CHURN}' does not have MODIFY on TABLE {FULL} (a row of a "
                "table it may not see: a principal writes only the rows of tables it may "
                "MODIFY)")
    with pytest.raises(PermissionDenied) as denied:
        check(checked, RowWrite(rows(OWN, FOREIGN)))

    assert str(denied.value) == expected
    assert (denied.value.privilege, denied.value.securable) == ("MODIFY", f"TABLE {FULL}")
    assert denials(lakehouse)[-1] == (expected, [
        ("securable", f"TABLE {FULL}"), ("row_table", FOREIGN)])


def test_a_row_naming_no_table_or_without_the_column_is_denied_as_no_ones(
        lakehouse: Settings, checked: tuple[Access, Catalog, TableName, str]) -> None:  # noqa: F811
    expected = f"permission denied: '{CHURN}' does not have MODIFY on TABLE {FULL} ({NO_TABLE})"
    nameless = rows(OWN).with_columns(table=pl.lit(None, pl.String))
    for added in (nameless, rows(OWN).drop("table")):
        with pytest.raises(PermissionDenied) as denied:
            check(checked, RowWrite(added))
        assert str(denied.value) == expected
        assert (denied.value.privilege, denied.value.securable) == ("MODIFY", f"TABLE {FULL}")
        assert denials(lakehouse)[-1] == (expected, [
            ("securable", f"TABLE {FULL}"), ("row_table", "None")])


def test_a_write_whose_reach_cannot_be_decided_is_denied_naming_the_error_type(
        lakehouse: Settings, checked: tuple[Access, Catalog, TableName, str]) -> None:  # noqa: F811
    with pytest.raises(PermissionDenied) as denied:
        check(checked, RowWrite(pl.DataFrame(), replaces=True, where="no_such_column = 1"))

    message = str(denied.value)
    cause = denied.value.__cause__
    assert cause is not None
    prefix = (f"permission denied: '{CHURN}' does not have MODIFY on TABLE {FULL} (cannot "
              f"tell which tables' rows the write touches: {type(cause).__name__}: ")
    assert message.startswith(prefix) and type(cause).__name__ != "NoneType", message
    assert (denied.value.privilege, denied.value.securable) == ("MODIFY", f"TABLE {FULL}")
    assert denials(lakehouse)[-1] == (message, [("securable", f"TABLE {FULL}")])


def test_the_owners_are_those_of_the_added_rows_and_of_the_stored_rows_reached(
        lakehouse: Settings, seen: tuple[Access, Catalog, TableName, str]) -> None:  # noqa: F811
    checked = seen
    own_stored = f"\"table\" = '{OWN}'"
    attempts = {  # added foreign rows, stored own rows reached; and the other way round
        "replace adding a foreign row": RowWrite(rows(FOREIGN), replaces=True, where=own_stored),
        "replace reaching a foreign row": RowWrite(rows(OWN), replaces=True,
                                                   where=f"\"table\" = '{FOREIGN}'"),
        "merge adding a foreign row": RowWrite(  # its keys match only churn's stored row
            pl.concat([rows(FOREIGN), rows(OWN, batch="2026-11-29")]),
            keys=["table", "source", "batch_id"]),
        "merge matching a foreign row": RowWrite(rows(OWN, batch="2026-11-29"),
                                                 keys=["source", "batch_id"]),
    }
    for what, write in attempts.items():
        with pytest.raises(PermissionDenied) as denied:
            check(checked, write)
        assert str(denied.value) == foreign_message(FOREIGN), what

    assert check(checked, RowWrite(rows(OWN), replaces=True, where=own_stored)) == [OWN]
    assert check(checked, RowWrite(rows(OWN, batch="2026-11-29"),
                                   keys=["table", "source", "batch_id"])) == [OWN]


def test_only_keeps_the_predicate_and_adds_the_owned_tables(lakehouse: Settings) -> None:  # noqa: F811
    narrowed = only("table", [OWN], "batch_id = '2026-11-30'")
    assert narrowed.startswith("(batch_id = '2026-11-30') AND ") and OWN in narrowed

    churn = as_(lakehouse, CHURN)
    churn.append(PROGRESS, rows(OWN))  # churn's table: 2026-11-29 and 2026-11-30
    churn.delete(PROGRESS, "batch_id = '2026-11-30'")
    assert stored(lakehouse).select("table", "batch_id").rows() == [
        (FOREIGN, "2026-11-29"), (OWN, "2026-11-29")]


def test_the_admin_check_is_of_the_principal_acting(
        lakehouse: Settings, checked: tuple[Access, Catalog, TableName, str]) -> None:  # noqa: F811
    admin = local_user()
    nameless = rows(OWN).with_columns(table=pl.lit(None, pl.String))
    assert check(checked, RowWrite(nameless), principal=admin) is None  # an admin: unchecked
    with pytest.raises(PermissionDenied):  # the OS user is admin, the acting one is not
        check(checked, RowWrite(rows(FOREIGN)))

    as_(lakehouse, admin).append(PROGRESS, nameless)
    access, _, name, _ = checked
    frame = Catalog(lakehouse.root, lakehouse.env, governed=False).scan(PROGRESS)
    assert visible_rows(access, admin, name, frame).collect()["table"].to_list().count(
        None) == 1
    assert visible_rows(access, CHURN, name, frame).collect()["table"].to_list() == [OWN]
