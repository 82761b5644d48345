"""Least privilege per domain (issue 13, stranger11b finding 5): every domain's pipeline acts
as its own service principal `<domain>-pipeline`, a domain without a `policy.yaml` (`fleet`)
included, with the grants the engine derives from its declarations; neither domain's pipeline
can read or write the other's tables in the layers they share (the denial names principal,
privilege and securable and is audited), each can write its own, whoever created them first.
Real Delta tables and the real metastore; no pipeline run (tests/test_second_domain.py runs
both domains' jobs as their principals)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

import lakehouse_ml.domains
from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.resources import (
    LakehouseResource,
    apply_domain_grants,
    apply_policies,
    domain_principals,
)
from lakehouse_ml.domains import discover
from lakehouse_ml.governance import Metastore, PermissionDenied
from lakehouse_ml.governance import domain_grants as grants
from lakehouse_ml.governance.findings_catalog import inventory, policy_drift
from lakehouse_ml.governance.policy import APPLIED, apply_policy, revoked_since_applied
from lakehouse_ml.governance.principals import ENV_VAR, local_user
from lakehouse_ml.serving.identity import serving_identity
from tests.governance.domain_support import audited_denials, domain_job
from tests.user_domains import declare_user_domains

POLICY = Path(__file__).parents[2] / "lakehouse_ml" / "domains" / "churn" / "policy.yaml"
POLICIES = [str(POLICY.parents[1] / "policy.yaml"), str(POLICY)]
"""The policy files a pipeline process applies: the project's first, then churn's."""
CHURN, FLEET = "churn-pipeline", "fleet-pipeline"
ROWS = pl.DataFrame({"k": ["a"], "v": [1.0]})
CHURN_TABLES = ("silver.events", "gold.daily_activity", "churn.training_set")
FLEET_TABLES = ("silver.pings", "gold.vehicle_days", "fleet.training_set")


@pytest.fixture
def lakehouse(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """churn beside `fleet` and `sensors` (no policy.yaml), churn's policy and every domain's
    derived grants applied as a pipeline process applies them."""
    declare_user_domains(monkeypatch)
    principals, policies = domain_principals()
    apply_policies(settings.root, settings.env, policies)
    apply_domain_grants(settings.root, settings.env, list(principals))
    yield settings


def _write(settings: Settings, principal: str, table: str) -> None:
    catalog = Catalog(settings.root, settings.env, principal=principal)
    catalog.create_table(table, ROWS.schema, TableInfo(owner="team:data-eng", comment=table))
    catalog.append(table, ROWS)


def _denied(settings: Settings, principal: str, action: str, table: str) -> PermissionDenied:
    catalog = Catalog(settings.root, settings.env, principal=principal)
    with pytest.raises(PermissionDenied) as denied:
        catalog.read(table) if action == "read" else catalog.append(table, ROWS)
    return denied.value


def test_every_domain_acts_as_its_own_pipeline_principal(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    declare_user_domains(monkeypatch)
    assert domain_principals() == ({"churn": CHURN, "fleet": FLEET,
                                    "sensors": "sensors-pipeline"}, POLICIES)


def test_neither_domain_reaches_the_other_s_tables(lakehouse: Settings) -> None:
    for principal, tables in ((CHURN, CHURN_TABLES), (FLEET, FLEET_TABLES)):
        for table in tables:  # each creates and writes its own, in the layers both use
            _write(lakehouse, principal, table)
            assert Catalog(lakehouse.root, "dev", principal=principal).read(table).equals(
                ROWS)
    for principal, others in ((CHURN, FLEET_TABLES), (FLEET, CHURN_TABLES)):
        for table in others:
            shared = table.split(".")[0] in ("silver", "gold")
            for action, privilege in (("read", "SELECT"), ("append", "MODIFY")):
                denied = _denied(lakehouse, principal, action, table)
                # in a shared layer: the table's privilege; the other's model schema: its USE
                assert (denied.principal, denied.privilege, denied.securable) == (
                    (principal, privilege, f"TABLE dev.{table}") if shared else
                    (principal, "USE SCHEMA", f"SCHEMA dev.{table.split('.')[0]}")), denied
        logged = audited_denials(lakehouse, principal)
        for table in others[:2]:  # the shared layers: denied on the table itself
            for privilege in ("SELECT", "MODIFY"):
                assert any(f"'{principal}' does not have {privilege} on TABLE dev.{table}" in e
                           for e in logged), (principal, table, privilege, logged)
    # the other's model schema is not even usable, and nothing schema-wide on shared layers
    m = Metastore(lakehouse.root, "dev")
    for principal in (CHURN, FLEET):
        for schema in ("bronze", "silver", "gold", "monitoring", "pipeline"):
            held = {x.privilege for x in m.effective_privileges(principal, "SCHEMA", schema)}
            assert held <= {"USE SCHEMA", "CREATE TABLE"}, (principal, schema, held)


def test_a_domain_without_a_policy_runs_as_its_principal_not_as_the_admin(
        lakehouse: Settings) -> None:
    seen: list[str] = []

    def writes(resource: LakehouseResource) -> None:
        catalog = resource.catalog()
        seen.append(catalog.principal)
        catalog.create_table("gold.vehicle_days", ROWS.schema, TableInfo(owner="team:x"))
        catalog.append("gold.vehicle_days", ROWS)
        catalog.read("silver.customers")

    job = domain_job(lakehouse, "fleet", writes)
    _write(lakehouse, CHURN, "silver.customers")
    result = job.execute_in_process(raise_on_error=False)
    assert seen == [FLEET] and local_user() != FLEET
    assert not result.success  # its own table written, churn's customers denied
    assert Catalog(lakehouse.root, "dev", governed=False).read("gold.vehicle_days").height == 1
    assert any("'fleet-pipeline' does not have SELECT on TABLE dev.silver.customers" in e
               for e in audited_denials(lakehouse, FLEET))


def test_a_table_first_created_by_the_admin_or_another_pipeline_is_its_domain_s(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Created by an admin run (owned as declared, `team:...`) or recorded as owned by churn's
    pipeline (created under an earlier version's schema-wide grants): after the grants are
    applied, fleet's pipeline writes both, churn's neither (the second is given to its
    schema's owner)."""
    declare_user_domains(monkeypatch)
    admin = Catalog(settings.root, "dev")
    admin.create_table("gold.vehicle_days", ROWS.schema, TableInfo(owner="team:data-eng"))
    admin.create_table("silver.pings", ROWS.schema, TableInfo(owner=CHURN))
    principals, policies = domain_principals()
    apply_policies(settings.root, settings.env, policies)
    apply_domain_grants(settings.root, settings.env, list(principals))
    m = Metastore(settings.root, "dev")
    assert m.securable("TABLE", "silver.pings").owner == m.securable("SCHEMA", "silver").owner
    for table in ("gold.vehicle_days", "silver.pings"):
        _write(settings, FLEET, table)
        assert _denied(settings, CHURN, "append", table).privilege == "MODIFY"


def test_the_grants_are_idempotent_and_an_admin_s_revocation_stands(lakehouse: Settings
                                                                       ) -> None:
    m = Metastore(lakehouse.root, "dev")
    fleet = discover().declared["fleet"]
    version = m.store.version()
    grants.apply_domain_grants(m, [fleet])  # in a new process: no change, no record
    assert m.store.version() == version
    m.revoke(["MODIFY"], "TABLE", "gold.vehicle_days", FLEET, as_principal=local_user())
    grants.apply_domain_grants(m, [fleet])
    with pytest.raises(PermissionDenied, match="MODIFY on TABLE dev.gold.vehicle_days"):
        m.check(FLEET, "MODIFY", "TABLE", "gold.vehicle_days")
    drift = revoked_since_applied(m.store.read())  # the governance audit's finding
    assert [(e["securable"], e["principal"], e["privilege"], e["policy"]) for e in drift] == [
        ("TABLE dev.gold.vehicle_days", FLEET, "MODIFY", "engine:fleet")]
    assert len(drift[0]["sha256"]) == 64


def test_what_fleet_needs_is_derived_from_its_declarations(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    declare_user_domains(monkeypatch)
    need = grants.needs(discover().declared["fleet"])
    assert {"bronze.pings", "bronze.pings_manifest", "bronze.pings_rejects", "silver.pings",
            "silver.pings_quarantine", "silver.pings_moves", "gold.vehicle_days",
            "gold.vehicle_heat", "gold.vehicle_heat_state", "fleet.training_set",
            "fleet.predictions", "fleet.inference_log", "fleet.validation_results",
            "fleet.alias_changes", "pipeline.progress"} <= need.writes
    assert need.reads == frozenset()  # every input it declares is its own
    assert need.models == {"fleet.breakdown_clf"}
    assert not any(t.startswith(("silver.customers", "gold.customer")) for t in need.writes)


def test_a_grant_taken_out_of_a_policy_it_applied_is_revoked(settings: Settings,
                                                             tmp_path: Path) -> None:
    """An existing lakehouse keeps no schema-wide grant of the churn policy of before."""
    policy = tmp_path / "policy.yaml"
    policy.write_text("service_principals: [churn-pipeline]\ngrants:\n"
                      "  - {securable: CATALOG, to: churn-pipeline, privileges: [USE CATALOG]}\n"
                      "  - {securable: SCHEMA silver, to: churn-pipeline, privileges: "
                      "[USE SCHEMA, SELECT, MODIFY]}\n")
    m = Metastore(settings.root, "dev")
    m.create("SCHEMA", "silver")
    apply_policy(policy, metastore=m)
    m.check(CHURN, "MODIFY", "SCHEMA", "silver")
    policy.write_text("service_principals: [churn-pipeline]\ngrants:\n"
                      "  - {securable: CATALOG, to: churn-pipeline, privileges: [USE CATALOG]}\n")
    apply_policy(policy, metastore=m)
    assert {x.privilege for x in m.effective_privileges(CHURN, "SCHEMA", "silver")} == set()


def test_serving_a_domain_without_a_policy_acts_as_its_serving_principal(
        lakehouse: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve --domain fleet`, launched by the admin, applies the grants derived for
    `fleet-serving` and acts as it; launched as that principal, it applies nothing."""
    assert serving_identity(lakehouse, "fleet") == "fleet-serving" != local_user()
    m = Metastore(lakehouse.root, "dev")
    held = {(g["securable"], g["privilege"]) for g in m.store.read()["grants"]
            if g["principal"] == "fleet-serving"}
    assert held == {
        ("CATALOG dev", "USE CATALOG"), ("CATALOG dev", "BROWSE"),
        *((f"SCHEMA dev.{x}", "USE SCHEMA") for x in ("fleet", "gold", "serving")),
        *((f"SCHEMA dev.{x}", "CREATE TABLE") for x in ("fleet", "serving")),
        ("TABLE dev.fleet.inference_log", "MODIFY"), ("TABLE dev.gold.vehicle_heat", "SELECT"),
        ("TABLE dev.serving.tokens", "SELECT"), ("MODEL dev.fleet.breakdown_clf", "EXECUTE")
    }, held
    # churn's serving grants are derived the same way: exactly what its policy gave before
    churn = grants.serving_plan(discover().declared["churn"], "dev")
    assert {(k, p) for k, _, p in churn.grants} == {
        ("CATALOG dev", "USE CATALOG"), ("CATALOG dev", "BROWSE"),
        ("SCHEMA dev.gold", "USE SCHEMA"), ("SCHEMA dev.serving", "USE SCHEMA"),
        ("SCHEMA dev.serving", "CREATE TABLE"), ("SCHEMA dev.churn", "USE SCHEMA"),
        ("SCHEMA dev.churn", "CREATE TABLE"), ("TABLE dev.churn.inference_log", "MODIFY"),
        ("TABLE dev.serving.tokens", "SELECT"), ("MODEL dev.churn.churn_clf", "EXECUTE"),
        *((f"TABLE dev.gold.customer_{x}", "SELECT")
          for x in ("engagement", "recency", "support", "profile"))}
    version = m.store.version()
    monkeypatch.setenv(ENV_VAR, "sensors-pipeline")  # not an admin: acts as itself
    assert serving_identity(lakehouse, "fleet") == "sensors-pipeline"
    assert m.store.version() == version


def test_a_removed_domain_s_grants_are_revoked_but_not_a_broken_one_s(
        lakehouse: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    serving_identity(lakehouse, "fleet")
    m = Metastore(lakehouse.root, "dev")
    m.check(FLEET, "MODIFY", "TABLE", "gold.vehicle_days")
    wreck = tmp_path / "wreck"  # a package that fails to load: any domain's, maybe fleet's
    wreck.mkdir()
    (wreck / "__init__.py").write_text("raise RuntimeError('half-written')\n")
    monkeypatch.delitem(sys.modules, "lakehouse_ml.domains.wreck", raising=False)
    monkeypatch.setattr(lakehouse_ml.domains, "__path__", [str(POLICY.parents[1]),
                                                           str(tmp_path)])
    apply_domain_grants(lakehouse.root, lakehouse.env, ["churn"])
    m.check(FLEET, "MODIFY", "TABLE", "gold.vehicle_days")  # kept while a package is broken
    monkeypatch.setattr(lakehouse_ml.domains, "__path__", [str(POLICY.parents[1])])
    apply_domain_grants(lakehouse.root, lakehouse.env, ["churn"])
    state = m.store.read()
    for gone in ("fleet-pipeline", "fleet-serving", "sensors-pipeline"):
        assert not [g for g in state["grants"] if g["principal"] == gone], gone
    assert {e["policy"] for e in state[APPLIED] if e["policy"].startswith("engine:")} == {
        "engine:churn"}
    m.check(CHURN, "MODIFY", "TABLE", "gold.daily_activity")  # churn's own stay


def test_a_revoked_engine_grant_says_what_derived_it_and_a_table_declared_ahead_has_no_finding(
        lakehouse: Settings) -> None:
    m = Metastore(lakehouse.root, "dev")
    m.revoke(["SELECT"], "TABLE", "gold.vehicle_heat", FLEET, as_principal=local_user())
    [finding] = policy_drift(m.store.read())
    assert finding.message.startswith(
        "SELECT on TABLE dev.gold.vehicle_heat to 'fleet-pipeline' is derived by the engine "
        "from domain 'fleet''s declarations (engine:fleet, applied at sha256 "), finding
    assert ("to keep it revoked, remove from domain 'fleet' the declaration that needs it; "
            "to restore it, GRANT it back") in finding.message
    assert "remove it from the policy" not in finding.message
    # fleet.inference_log is declared (granted on) before serving creates it: listed, and
    # no missing_description until it exists; a table created without a comment has one
    Catalog(lakehouse.root, "dev", principal=FLEET).create_table(
        "fleet.predictions", ROWS.schema, TableInfo(owner="team:ml"))
    rows, findings = inventory(m.namespace(m.store.read()), [])
    assert "dev.fleet.inference_log" in {r.name for r in rows}
    missing = {f.securable for f in findings if f.kind == "missing_description"}
    assert "dev.fleet.predictions" in missing and "dev.fleet.inference_log" not in missing
