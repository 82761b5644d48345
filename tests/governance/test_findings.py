"""The governance audit's findings on a deliberately misconfigured catalog, on a clean one and on
an empty one (engine: lakehouse_ml.governance.findings*; real metastore, Delta and MLflow)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.defs.governance_audit import _registry, check_result
from lakehouse_ml.defs.resources import MlflowResource
from lakehouse_ml.governance import GROUP, Metastore
from lakehouse_ml.governance.audit import audit_log
from lakehouse_ml.governance.audit_chain import TABLE as AUDIT_TABLE
from lakehouse_ml.governance.findings import (
    CRITICAL,
    HIGH,
    LOW,
    MEDIUM,
    TABLE,
    Finding,
    write_findings,
)
from lakehouse_ml.governance.findings_audit import Audit, run_audit
from lakehouse_ml.governance.findings_catalog import grants, inventory
from lakehouse_ml.governance.findings_ops import AssetFreshness, failed_runs, stale
from lakehouse_ml.governance.report import html_page, markdown
from lakehouse_ml.governance.sql import run_sql
from lakehouse_ml.ml.registry import use_tracking
from lakehouse_ml.monitoring.failed_runs import record_failed_run
from tests.governance.conftest import SCHEMA

EMAIL = "ann.secret@example.com"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One empty MLflow store for the module (creating one costs seconds); no test writes it."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    use_tracking(uri).search_registered_models()
    return uri


def audit(root: str, registry: str) -> Audit:
    return run_audit(Catalog(root, "dev"), use_tracking(registry))


def found(result: Audit, kind: str, securable: str) -> list[str]:
    return [f.severity for f in result.findings if (f.kind, f.securable) == (kind, securable)]


def mask(m: Metastore, table: str) -> None:
    run_sql(m, "CREATE FUNCTION IF NOT EXISTS dev.silver.mask_email(email STRING) "
            "RETURNS STRING RETURN '***'")
    run_sql(m, f"ALTER TABLE dev.{table} ALTER COLUMN email SET MASK dev.silver.mask_email")


def test_misconfigured_catalog(root: str, metastore: Metastore, registry: str) -> None:
    """An unmasked pii column readable by a group (critical), one only its owner reads
    (high), ALL PRIVILEGES to `account users` (critical), a table without owner (high), a
    grant whose principal was removed (high): each found, with that severity; the report
    names the pii column but holds no value of it."""
    catalog = Catalog(root, "dev")
    catalog.append("silver.customers", pl.DataFrame(
        {"id": [1], "email": [EMAIL], "tenant_id": ["t"]}, schema=SCHEMA))
    catalog.create_table("silver.orphans", SCHEMA, TableInfo(owner="", comment="no owner"))
    metastore.add_principal("account users", GROUP)
    metastore.grant(["SELECT"], "TABLE", "silver.customers", "analysts")
    metastore.create("SCHEMA", "gold", comment="aggregates")
    metastore.grant(["ALL PRIVILEGES"], "SCHEMA", "gold", "account users")
    metastore.grant(["MODIFY"], "SCHEMA", "gold", "bob")
    metastore.store.update(lambda state: state["principals"].pop("bob"))

    result = audit(root, registry)
    assert found(result, "unmasked_pii", "dev.silver.customers.email") == [CRITICAL]
    assert found(result, "unmasked_pii", "dev.silver.events.email") == [HIGH]
    assert found(result, "broad_grant", "dev.gold") == [CRITICAL]
    assert found(result, "missing_owner", "dev.silver.orphans") == [HIGH]
    assert found(result, "orphaned_grant", "dev.gold") == [HIGH]
    assert found(result, "missing_description", "dev.silver.customers") == ["low"]
    customers = next(p for p in result.pii if p.table == "dev.silver.customers")
    assert (customers.masked, customers.readers) == (False, ("analysts",))
    check = check_result(result)
    assert not check.passed
    assert "unmasked_pii on dev.silver.customers.email" in check.description
    assert "broad_grant on dev.gold" in check.description
    for text in (markdown(result), html_page(result)):
        assert "dev.silver.customers" in text and "email" in text
        assert EMAIL not in text


def test_clean_catalog_has_no_critical_finding(root: str, metastore: Metastore,
                                               registry: str) -> None:
    """Masked pii columns, declared owners with descriptions, grants to small groups: no
    critical finding, the check passes; masking the one column turns critical into none."""
    for table in ("silver.customers", "silver.events"):
        Catalog(root, "dev").create_table(table, SCHEMA, TableInfo(
            owner="data-eng", comment=f"the {table} table", column_tags={"email": ["pii"]}))
    metastore.grant(["SELECT", "MODIFY"], "SCHEMA", "silver", "analysts")
    before = audit(root, registry)
    assert found(before, "unmasked_pii", "dev.silver.customers.email") == [CRITICAL]
    mask(metastore, "silver.customers")
    mask(metastore, "silver.events")

    after = audit(root, registry)
    assert [f for f in after.findings if f.severity in (CRITICAL, HIGH)] == []
    assert {(p.table, p.masked) for p in after.pii} == {
        ("dev.silver.customers", True), ("dev.silver.events", True)}
    assert after.chain.startswith("intact")
    check = check_result(after)
    assert check.passed, check.description


def test_a_model_declared_ahead_has_no_missing_description_until_registered(
        root: str, metastore: Metastore, tmp_path: Path) -> None:
    """A grant names a model before MLflow registers it (as a policy or serving's derived
    grants do): listed, but no missing_description, as a table declared ahead; once
    registered without a description it has one; a registered model with one has none; while
    the registry cannot be read, every declared model counts as existing (fail closed)."""
    client = use_tracking(f"sqlite:///{tmp_path / 'mlflow.db'}")
    ahead, bare, told = (f"dev.silver.{name}_clf" for name in ("ahead", "bare", "told"))
    for name in (ahead, bare):  # declared, as a policy declares the models it grants on
        metastore.create("MODEL", name, owner="data-eng")
        metastore.grant(["EXECUTE"], "MODEL", name, "analysts")
    client.create_registered_model(bare)
    client.create_registered_model(told, description="scores churn")

    before = run_audit(Catalog(root, "dev"), client)
    assert {ahead, bare, told} <= {r.name for r in before.inventory if r.type == "MODEL"}
    assert [found(before, "missing_description", name) for name in (ahead, bare, told)] == [
        [], [LOW], []]
    client.create_registered_model(ahead)
    after = run_audit(Catalog(root, "dev"), client)
    assert found(after, "missing_description", ahead) == [LOW]
    _, unread = inventory(metastore.namespace(metastore.store.read()), [], registry_read=False)
    assert {f.securable for f in unread if f.kind == "missing_description"} >= {ahead, bare}


def test_nothing_to_audit_fails_the_check(tmp_path: Path, registry: str) -> None:
    """An empty lakehouse: the check fails saying there is nothing to audit."""
    result = audit(str(tmp_path / "empty"), registry)
    assert result.empty.startswith("nothing to audit")
    check = check_result(result)
    assert not check.passed and "nothing to audit" in check.description
    assert found(result, "audit_log_empty", AUDIT_TABLE) == [HIGH]


def test_broad_by_size_and_modify(metastore: Metastore) -> None:
    """MODIFY to a group reaching the size bound (nested members counted) is high; below it,
    nothing."""
    metastore.add_member("readers", "bob")
    metastore.grant(["MODIFY"], "SCHEMA", "silver", "readers")
    state = metastore.store.read()
    _, small = grants(state, broad_members=3)
    assert small == []
    _, broad = grants(state, broad_members=2)
    assert [(f.severity, f.kind, f.securable) for f in broad] == [
        (HIGH, "broad_grant", "dev.silver")]
    assert "2 members" in broad[0].message


def test_audit_chain_and_denials(root: str, metastore: Metastore, registry: str) -> None:
    """A denial is counted per principal and securable; an edited audit record is a critical
    finding naming the broken link."""
    for _ in range(2):
        with pytest.raises(PermissionError):
            metastore.check("ann", "SELECT", "TABLE", "silver.customers")
    result = audit(root, registry)
    assert found(result, "denied_attempts", "dev.silver.customers") == [LOW]
    assert result.denied.filter(pl.col("principal") == "ann")["attempts"].to_list() == [2]
    catalog = Catalog(root, "dev", governed=False)
    log = catalog.read(AUDIT_TABLE)
    catalog.overwrite(AUDIT_TABLE, log.with_columns(
        pl.when(pl.col("sequence") == 2).then(pl.lit("eve")).otherwise(
            pl.col("workspace_id")).alias("workspace_id")))
    broken = audit(root, registry)
    assert [(f.severity, f.kind) for f in broken.findings if f.securable == AUDIT_TABLE] == [
        (CRITICAL, "audit_chain_broken")]
    assert "sequence 2" in check_result(broken).description


def test_stale_assets() -> None:
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    day = timedelta(days=1)
    findings = stale([AssetFreshness("gold/a", day, now - 2 * day),
                      AssetFreshness("gold/b", day, now - day / 2),
                      AssetFreshness("gold/c", day, None),
                      AssetFreshness("gold/d", None, None, "gold/d is stale: lag 3 days")], now)
    assert [(f.severity, f.securable) for f in findings] == [
        (MEDIUM, "gold/a"), (MEDIUM, "gold/c"), (MEDIUM, "gold/d")]


def test_findings_table_replaces_its_day(catalog: Catalog) -> None:
    """Writing a day again replaces that day's rows only."""
    one, two = date(2026, 11, 30), date(2026, 12, 1)
    write_findings(catalog, [Finding(LOW, "a", "x", "m")], one, "r1")
    write_findings(catalog, [Finding(HIGH, "b", "y", "m"), Finding(LOW, "c", "z", "m")],
                   two, "r2")
    version = write_findings(catalog, [Finding(CRITICAL, "d", "y", "m")], two, "r3")
    rows = catalog.read(TABLE).sort("audit_date")
    assert rows.select("audit_date", "severity", "run_id").rows() == [
        (one, LOW, "r1"), (two, CRITICAL, "r3")]
    # the same findings again: no new Delta version (a re-run of `make run` adds nothing)
    assert write_findings(catalog, [Finding(CRITICAL, "d", "y", "m")], two, "r4") == version
    assert catalog.version(TABLE) == version
    with pytest.raises(ValueError, match="invalid finding severity 'urgent'"):
        Finding("urgent", "k", "s", "m")
    audit_log(catalog.root, catalog.env).flush()


def test_failed_runs_of_the_last_day(catalog: Catalog) -> None:
    """A run recorded failed within the window is a medium finding naming job and error; an
    older one is not; without the table there are none."""
    now = datetime.now(UTC)
    assert failed_runs(catalog, now - timedelta(days=1))[1] == []
    record_failed_run(catalog, "r-new", "churn_daily_refresh", now - timedelta(hours=2),
                      "step bronze failed", {})
    record_failed_run(catalog, "r-old", "churn_daily_refresh", now - timedelta(days=3),
                      "old failure", {})
    runs, findings = failed_runs(catalog, now - timedelta(days=1))
    assert runs["run_id"].to_list() == ["r-new"]
    assert [(f.severity, f.kind, f.securable) for f in findings] == [
        (MEDIUM, "failed_run", "r-new")]
    assert "churn_daily_refresh" in findings[0].message
    assert "step bronze failed" in findings[0].message


def test_no_registry_is_not_created(root: str, tmp_path: Path) -> None:
    """Without an MLflow store the audit reports no model and creates none (a run whose
    domains registered no model leaves no database behind, and logs nothing about one)."""
    store = tmp_path / "mlflow" / "mlflow.db"
    registry = _registry(MlflowResource(tracking_uri=f"sqlite:///{store}"))
    assert registry is None
    result = run_audit(Catalog(root, "dev"), registry)
    assert result.champions == [] and {r.type for r in result.inventory} == {"TABLE"}
    assert not store.parent.exists()
