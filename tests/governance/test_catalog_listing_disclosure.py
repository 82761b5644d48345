"""What the governed Catalog lists and answers tells a principal nothing about tables it may not
see (Unity Catalog shows metadata to a metastore admin, to BROWSE on the catalog, or to USE
CATALOG + USE SCHEMA and a privilege on the object): `tables()` lists only the visible ones,
`exists()` denies an invisible table as it denies a missing one, `create_table` decides USE
CATALOG before it looks at the schema, and lineage authorizes the reader before it says a
table or column is unknown. Real Delta tables, the real metastore and audit log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.governance import Metastore, PermissionDenied
from lakehouse_ml.governance.lineage_query import UPSTREAM, UnknownLineageName, lineage
from tests.governance.audit_support import params, records
from tests.governance.conftest import SCHEMA

EXISTING, MISSING = "dev.silver.customers", "dev.silver.gone"
USE = [("USE CATALOG", "CATALOG", "dev"), ("USE SCHEMA", "SCHEMA", "silver")]
# what ann holds, short of seeing dev.silver.customers
HIDDEN = {"nothing": [], "USE CATALOG only": USE[:1], "USE CATALOG and USE SCHEMA": USE}


def _grant(metastore: Metastore, grants: list[tuple[str, str, str]]) -> None:
    for privilege, kind, name in grants:
        metastore.grant([privilege], kind, name, "ann")


def _ann(metastore: Metastore) -> Catalog:
    return Catalog(metastore.root, "dev", principal="ann")


def _denials(metastore: Metastore, call: Callable[[str], Any], names: tuple[str, ...]
             ) -> list[tuple[PermissionDenied, dict]]:
    """For each name, the PermissionDenied `call(name)` raises and its one audit record."""
    found = []
    for name in names:
        before = records(metastore).height
        with pytest.raises(PermissionDenied) as denied:
            call(name)
        rows = records(metastore).slice(before).to_dicts()
        assert len(rows) == 1, rows
        assert (rows[0]["user"], rows[0]["status"], rows[0]["error"]) == (
            "ann", 403, str(denied.value))
        found.append((denied.value, rows[0]))
    return found


def _same(denials: list[tuple[PermissionDenied, dict]], names: tuple[str, ...]) -> None:
    """The denials say the same thing but for the name asked: nothing about existence."""
    def masked(text: str, name: str) -> str:
        return text.replace(name, "<name>")

    messages = {masked(str(e), n) for (e, _), n in zip(denials, names, strict=True)}
    assert len(messages) == 1, messages
    actions = {r["action"] for _, r in denials}
    assert len(actions) == 1, actions
    securables = {masked(params(r).get("securable", ""), n)
                  for (_, r), n in zip(denials, names, strict=True)}
    assert len(securables) == 1, securables
    for error, _ in denials:
        assert "does not exist" not in str(error) and "expected at" not in str(error)


@pytest.mark.parametrize("holding", list(HIDDEN))
def test_tables_lists_only_what_the_principal_may_see(metastore: Metastore, holding: str
                                                      ) -> None:
    """Nothing visible: an empty list, no audit record (a listing filters, it denies
    nothing); SELECT on one table: that one; BROWSE on the catalog: both; the admin and an
    ungoverned catalog: both."""
    _grant(metastore, HIDDEN[holding])
    every = ["dev.silver.customers", "dev.silver.events"]
    before = records(metastore).height
    assert _ann(metastore).tables() == []
    assert records(metastore).height == before
    _grant(metastore, [*USE, ("SELECT", "TABLE", "silver.events")])
    assert [t.name for t in _ann(metastore).tables()] == ["dev.silver.events"]
    _grant(metastore, [("BROWSE", "CATALOG", "dev")])
    assert [t.name for t in _ann(metastore).tables()] == every
    assert [t.name for t in Catalog(metastore.root, "dev").tables()] == every
    ungoverned = Catalog(metastore.root, "dev", principal="bob", governed=False)
    assert [t.name for t in ungoverned.tables()] == every


@pytest.mark.parametrize("holding", list(HIDDEN))
def test_exists_denies_an_invisible_table_as_it_denies_a_missing_one(
        metastore: Metastore, holding: str) -> None:
    """A table ann may not see is neither True nor False: the same PermissionDenied (getTable,
    403, audited once) for an existing and a missing one; once she may see it, the answer,
    with no record."""
    _grant(metastore, HIDDEN[holding])
    ann = _ann(metastore)
    names = (EXISTING, MISSING)
    denials = _denials(metastore, ann.exists, names)
    _same(denials, names)
    assert {(e.principal, e.privilege) for e, _ in denials} == {("ann", "BROWSE")}
    assert denials[0][1]["action"] == "getTable"
    _grant(metastore, [*USE, ("SELECT", "SCHEMA", "silver")])
    before = records(metastore).height
    assert ann.exists(EXISTING) is True and ann.exists(MISSING) is False
    assert records(metastore).height == before


def test_exists_needs_a_privilege_on_the_table_itself(metastore: Metastore) -> None:
    """USE CATALOG + USE SCHEMA and SELECT on another table: that one is seen, this one is
    denied whether or not it exists; MODIFY alone on it is enough to see it."""
    _grant(metastore, [*USE, ("SELECT", "TABLE", "silver.events")])
    ann = _ann(metastore)
    assert ann.exists("silver.events")
    _same(_denials(metastore, ann.exists, (EXISTING, MISSING)), (EXISTING, MISSING))
    _grant(metastore, [("MODIFY", "TABLE", "silver.customers")])
    assert ann.exists(EXISTING)


def _create(catalog: Catalog) -> Callable[[str], Any]:
    return lambda name: catalog.create_table(name, SCHEMA, TableInfo(owner="data-eng"))


def test_create_table_without_use_catalog_tells_nothing_about_schemas(metastore: Metastore
                                                                      ) -> None:
    """Without USE CATALOG, a table in an existing schema and in a missing one get the same
    denial, naming USE CATALOG on the catalog (one 403 checkPermission record on it); so does
    one in a catalog that does not exist."""
    ann = _ann(metastore)
    names = ("dev.silver.new", "dev.nowhere.new")
    denials = _denials(metastore, _create(ann), names)
    assert [str(e) for e, _ in denials] == [str(denials[0][0])] * 2
    assert {params(r)["securable"] for _, r in denials} == {"CATALOG dev"}
    assert (denials[0][0].privilege, denials[0][1]["action"]) == ("USE CATALOG",
                                                                  "checkPermission")
    elsewhere = _denials(metastore, _create(ann), ("other.silver.new",))
    assert str(elsewhere[0][0]) == str(denials[0][0]).replace("CATALOG dev", "CATALOG other")


def test_create_table_with_use_catalog_needs_create_schema_where_the_schema_is_new(
        metastore: Metastore) -> None:
    """With USE CATALOG: an existing schema needs USE SCHEMA and CREATE TABLE on it, a new
    one CREATE SCHEMA on the catalog; with those, both are created."""
    _grant(metastore, USE[:1])
    ann = _ann(metastore)
    with pytest.raises(PermissionDenied, match="'ann' does not have USE SCHEMA on SCHEMA "
                       "dev.silver"):
        _create(ann)("silver.new")
    with pytest.raises(PermissionDenied, match="'ann' does not have CREATE SCHEMA on CATALOG "
                       "dev$"):
        _create(ann)("nowhere.new")
    _grant(metastore, [USE[1], ("CREATE TABLE", "SCHEMA", "silver"),
                       ("CREATE SCHEMA", "CATALOG", "dev")])
    _create(ann)("silver.new")
    _create(ann)("nowhere.new")
    admin = Catalog(metastore.root, "dev")
    assert admin.exists("silver.new") and admin.exists("nowhere.new")


def test_lineage_authorizes_before_it_says_a_table_or_column_is_unknown(
        metastore: Metastore) -> None:
    """A reader who may not see the table's lineage gets the same denial for a column it has,
    a column it lacks and a table that does not exist (one 403 record each); one who may
    (SELECT) is told which column is missing, and that the table is unknown."""
    ann = _ann(metastore)
    asked: tuple[tuple[str, str | None], ...] = (
        ("silver.customers", "email"), ("silver.customers", "nope"), ("silver.gone", "email"),
        ("silver.gone", None))
    denials = []
    for table, column in asked:
        denials += _denials(metastore, lambda t, c=column: lineage(ann, t, UPSTREAM, column=c),
                            (table,))
    _same(denials[:3], ("customers", "customers", "gone"))
    assert {(e.principal, e.privilege) for e, _ in denials} == {("ann", "BROWSE or SELECT")}
    _grant(metastore, [("SELECT", "SCHEMA", "silver")])
    assert lineage(ann, "silver.customers", UPSTREAM, column="email").links == []
    with pytest.raises(UnknownLineageName, match="no column 'nope'"):
        lineage(ann, "silver.customers", UPSTREAM, column="nope")
    with pytest.raises(UnknownLineageName, match="'silver.gone'"):
        lineage(ann, "silver.gone", UPSTREAM)
