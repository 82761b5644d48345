"""The container check of a landed-file erasure (issue 14): `Access.check_within` fails closed
when nothing along the securable's chain is declared, and an allowed check on the schema (or
catalog) of a manifest not created yet is one audit record in a real erasure, none in a dry
run, as the tables' checks are; a denial is one 403 record. Real Delta tables, a real
metastore, the audit log read back from its table."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.catalog.access import access
from lakehouse_ml.domains.churn import DOMAIN
from lakehouse_ml.governance import Metastore
from lakehouse_ml.governance.erasure import forget
from lakehouse_ml.governance.erasure_files import erase_landed_files
from lakehouse_ml.governance.erasure_places import Subject
from lakehouse_ml.governance.principals import local_user
from lakehouse_ml.governance.privileges import PermissionDenied
from lakehouse_ml.governance.securables import MODEL, SCHEMA
from tests.governance.audit_support import params, records
from tests.governance.test_erasure_attack import (
    ENV,
    lakehouse,
    mallory_modifies_every_table,
    remaining,
)
from tests.test_ingest_landing import CUSTOMER_HEADER, customer

SUBJECT = Subject.parse("customer_id=42")
LANDED = "customers/2026-03-01/part-0.csv"
FILES_ACTION = "generateTemporaryVolumeCredential"


def land(landing: Path) -> Path:
    """A customers file holding customer 42, its source never ingested (no manifest)."""
    path = landing / LANDED
    path.parent.mkdir(parents=True)
    path.write_bytes(f"{CUSTOMER_HEADER}\n{customer(42)}\n{customer(7)}\n".encode())
    return path


def by(metastore: Metastore, principal: str) -> list[dict]:
    """`principal`'s unityCatalog records, in order."""
    return records(metastore).filter(pl.col("user") == principal).to_dicts()


def on(rows: list[dict], securable: str) -> list[dict]:
    return [r for r in rows if params(r).get("securable") == securable]


@pytest.fixture
def mallory(tmp_path: Path) -> tuple[str, Path, Metastore]:
    """(root, landing, metastore) of a lakehouse whose bronze, silver and ops tables hold
    customer 42, and a landed customers file never ingested holding it; mallory may change
    every table holding it and the bronze schema (where the manifest would be created)."""
    root = lakehouse(tmp_path / "lake")
    land(tmp_path / "landing")
    metastore = mallory_modifies_every_table(root)
    metastore.grant(["MODIFY"], "SCHEMA", "bronze", "mallory")
    return root, tmp_path / "landing", metastore


@pytest.mark.parametrize(("privilege", "kind", "name"), [
    ("EXECUTE", MODEL, "archive.old.churn_clf"), ("MODIFY", SCHEMA, "archive.bronze")])
def test_check_within_with_nothing_declared_is_denied_and_audited_once(
        tmp_path: Path, privilege: str, kind: str, name: str) -> None:
    """Neither the securable nor any container taking the privilege exists (catalog `archive`
    was never declared): denied, not let through nor a ValueError, audited once (a record of
    the securable asked for). A metastore admin (who would hold it) is told so, naming
    principal, privilege and the securable asked for; a grantee of the home catalog only gets
    the denial it would get if `archive` existed (USE CATALOG on it), which says nothing about
    whether it does."""
    root = Catalog(str(tmp_path / "lake"), ENV).root
    metastore = Metastore(root, ENV)
    metastore.add_principal("ann")
    metastore.grant(["USE CATALOG", privilege], "CATALOG", ENV, "ann")  # the home catalog's
    for principal, needs, on in (("ann", "USE CATALOG", "CATALOG archive"),
                                 (local_user(), privilege, f"{kind} {name}")):
        before = len(by(metastore, principal))  # the admin's: its grants
        with pytest.raises(PermissionDenied) as denied:
            access(root, ENV).check_within(principal, privilege, kind, name)
        assert (denied.value.principal, denied.value.privilege, denied.value.securable) == (
            principal, needs, on)
        assert f"{principal!r} does not have {needs} on {on}" in str(denied.value)
        assert ("neither it nor a container" in str(denied.value)) == (principal != "ann")
        rows = by(metastore, principal)[before:]
        assert [(r["action"], r["status"], params(r)["securable"]) for r in rows] == [
            ("checkPermission", 403, f"{kind} {name}")]


def test_a_landed_file_erasure_allowed_on_the_schema_is_one_record_of_it(
        mallory: tuple[str, Path, Metastore]) -> None:
    root, landing, metastore = mallory
    forget(root, ENV, SUBJECT, dry_run=False, principal="mallory", landing=str(landing))

    assert (landing / LANDED).read_bytes() == f"{CUSTOMER_HEADER}\n{customer(7)}\n".encode()
    rows = by(metastore, "mallory")
    assert [(r["action"], r["status"], params(r)) for r in on(rows, f"{ENV}.bronze")] == [
        (FILES_ACTION, 200, {"securable": f"{ENV}.bronze", "securable_type": "SCHEMA",
                             "privilege": "MODIFY", "operation": "WRITE_VOLUME",
                             "method": "forget"})]
    assert len(on(rows, f"{ENV}.bronze.people")) >= 1  # the tables' checks, as before


def test_a_landed_file_erasure_allowed_on_the_catalog_is_one_record_of_the_catalog(
        tmp_path: Path) -> None:
    """No bronze table exists, so schema dev.bronze is not declared: the check, and its one
    record, are on the catalog."""
    root = Catalog(str(tmp_path / "lake"), ENV).root
    path = land(tmp_path / "landing")
    metastore = Metastore(root, ENV)
    metastore.add_principal("ann")
    # USE SCHEMA (inherited): the erasure asks whether the manifest exists, which only who
    # may see it is told (Catalog.exists)
    metastore.grant(["USE CATALOG", "USE SCHEMA", "MODIFY"], "CATALOG", ENV, "ann")

    places = erase_landed_files(tmp_path / "landing", Path(root), ENV, SUBJECT, dry_run=False,
                                principal="ann", sources=[DOMAIN.source("customers")])

    assert [p.name for p in places] == [LANDED]
    assert path.read_bytes() == f"{CUSTOMER_HEADER}\n{customer(7)}\n".encode()
    assert [(r["action"], r["status"], params(r)) for r in by(metastore, "ann")] == [
        (FILES_ACTION, 200, {"securable": ENV, "securable_type": "CATALOG",
                             "privilege": "MODIFY", "operation": "WRITE_VOLUME",
                             "method": "forget"})]


def test_a_dry_run_records_no_allowed_check_and_the_real_run_records_the_schema_once(
        mallory: tuple[str, Path, Metastore]) -> None:
    """The dry run checks what the real run checks and leaves no record of what it allowed
    (the schema included); the real run that follows records the schema once, with the
    tables."""
    root, landing, metastore = mallory
    before = (landing / LANDED).read_bytes()
    report = forget(root, ENV, SUBJECT, dry_run=True, principal="mallory",
                    landing=str(landing))

    assert LANDED in {p.name for p in report.places}
    assert (landing / LANDED).read_bytes() == before and "42" in remaining(root)["bronze"]
    assert by(metastore, "mallory") == []

    forget(root, ENV, SUBJECT, dry_run=False, principal="mallory", landing=str(landing))
    rows = by(metastore, "mallory")
    assert len(on(rows, f"{ENV}.bronze")) == 1
    assert {r["status"] for r in rows} == {200}


def test_a_denied_landed_file_erasure_is_one_403_record_and_nothing_else(
        mallory: tuple[str, Path, Metastore]) -> None:
    """Without MODIFY on the bronze schema: each of the dry run and the real run is one 403
    record naming principal, privilege and schema, and nothing the erasure allowed before
    the denial (the tables' checks) is recorded."""
    root, landing, metastore = mallory
    metastore.revoke(["MODIFY"], "SCHEMA", "bronze", "mallory")
    for dry_run in (True, False):
        with pytest.raises(PermissionDenied,
                           match=f"'mallory' does not have MODIFY on SCHEMA {ENV}.bronze"):
            forget(root, ENV, SUBJECT, dry_run=dry_run, principal="mallory",
                   landing=str(landing))

    rows = by(metastore, "mallory")
    assert [(r["action"], r["status"], params(r)["securable"]) for r in rows] == [
        ("checkPermission", 403, f"SCHEMA {ENV}.bronze")] * 2
    assert all("MODIFY" in r["error"] for r in rows)
    assert "42" in remaining(root)["bronze"]
