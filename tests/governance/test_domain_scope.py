"""A domain package's `policy.yaml` keeps to its domain's scope, and declaring another domain's
table is not enough to read it (stranger11c findings 1 and 5): hostile packages, built as a
user would (fleet's declarations under another name, in a folder of their own), beside churn,
on the real metastore.

- an overstepping policy (a shared layer's schema, catalog-wide privileges, a privileged
  group's membership, a grant or owner on another domain's table...) makes its package
  broken, naming the file, the entry and why, and is never applied;
- two policies declaring one schema are both refused, each naming the other's file;
- a table of another domain declared as an input gets no SELECT: its runs are denied before
  anything runs, naming the table, the pipeline and where to grant it, until the owner grants
  it; a table declared in another domain's schema is refused at load;
- the governance audit flags catalog-wide privileges and a shared layer owned by a pipeline.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

import lakehouse_ml.domains
from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.cli import app
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.resources import (
    apply_domain_grants,
    apply_policies,
    check_reads,
    domain_principals,
)
from lakehouse_ml.domains import discover
from lakehouse_ml.governance import Metastore, PermissionDenied
from lakehouse_ml.governance import domain_grants as grants
from lakehouse_ml.governance.findings_audit import run_audit
from lakehouse_ml.governance.findings_catalog import grants as grant_findings
from lakehouse_ml.governance.findings_catalog import shared_schema_owners
from lakehouse_ml.governance.principals import local_user
from tests.governance.domain_support import domain_job

DOMAINS = Path(lakehouse_ml.domains.__file__).parent
CHURN_POLICY = DOMAINS / "churn" / "policy.yaml"
PROJECT = DOMAINS / "policy.yaml"
FLEET = Path(__file__).resolve().parents[1] / "domain_packages" / "fleet" / "__init__.py"
BASE = f'''"""fleet's declarations under another name: a user's package."""
import dataclasses as dc
import importlib.util
import sys

_spec = importlib.util.spec_from_file_location(__name__ + "_base", {str(FLEET)!r})
base = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = base
_spec.loader.exec_module(base)
model = base.MODELS[0]
training_set = base.TRAINING_SET
feature_table = base.DOMAIN.feature_tables[0]
'''
DECLARE = """
DOMAIN = dc.replace(base.DOMAIN, name={name!r}, training_set=training_set,
                    feature_tables=(feature_table,))
MODELS = (dc.replace(model, training_set=training_set),)
"""
HOSTILE = {  # the stranger's packages (stranger11c finding 5): what each changes of fleet's
    "hreads": "model = dc.replace(model, batch_scoring=dc.replace(model.batch_scoring, "
              "reads=(base.LABELS, 'silver.customers')))",
    "hftpii": "feature_table = dc.replace(feature_table, inputs=(*feature_table.inputs, "
              "'silver.customers'))",
    "hlabelsother": "training_set = dc.replace(training_set, labels='silver.churn_labels')",
    "htschurn": "training_set = dc.replace(training_set, name='churn.evil_set')",
}
STRANGER = """service_principals: [hok-pipeline]
groups: {pii-readers: [hok-pipeline]}
schemas: [{name: silver, owner: hok-pipeline}]
grants:
  - {securable: CATALOG, to: hok-pipeline, privileges: [ALL PRIVILEGES]}
  - {securable: TABLE silver.customers, to: hok-pipeline, privileges: [SELECT]}
"""


def package(folder: Path, name: str, change: str = "", policy: str | None = None) -> Path:
    """Write the package `name` (fleet's declarations as domain `name`, `change`d) into
    `folder`, with `policy` as its policy.yaml if given; its folder."""
    where = folder / name
    where.mkdir(parents=True)
    (where / "__init__.py").write_text(BASE + change + "\n" + DECLARE.format(name=name))
    if policy is not None:
        (where / "policy.yaml").write_text(policy)
    return where


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder of packages searched beside churn's (and nothing else) for one test."""
    folder = tmp_path / "packages"
    folder.mkdir()
    monkeypatch.setattr(lakehouse_ml.domains, "__path__", [str(DOMAINS), str(folder)])
    yield folder
    for name in [m for m in sys.modules if m.startswith("lakehouse_ml.domains.h")
                 or m == "lakehouse_ml.domains.sensors"]:  # imported from this folder
        del sys.modules[name]


def broken(where: Path) -> str:
    """Why discovery leaves out the package in `where` (AssertionError if it loads)."""
    found = {b.where: b.error for b in discover().broken}
    assert str(where) in found, (where, found)
    return found[str(where)]


@pytest.mark.parametrize(("policy", "entry", "why"), [
    ("schemas: [{name: silver, owner: hok-pipeline}]", "schemas[0]",
     "schema dev.silver is a layer every domain shares"),
    # the engine's schemas too: the audit log, lineage and findings (a stranger's finding)
    ("schemas: [{name: governance, owner: hok-pipeline}]\ngrants: [{securable: TABLE "
     "governance.audit_log, to: hok-pipeline, privileges: [SELECT, MODIFY]}]", "schemas[0]",
     "schema dev.governance is a layer every domain shares"),
    ("grants: [{securable: TABLE governance.audit_log, to: hok-pipeline, privileges: "
     "[MODIFY]}]", "grants[0]", "TABLE dev.governance.audit_log is not domain 'hok''s"),
    ("grants: [{securable: CATALOG, to: hok-pipeline, privileges: [ALL PRIVILEGES]}]",
     "grants[0]", "CATALOG dev: a domain policy may only grant USE CATALOG or BROWSE"),
    ("grants: [{securable: CATALOG, to: hok-pipeline, privileges: [USE CATALOG, "
     "CREATE SCHEMA]}]", "grants[0]", "may only grant USE CATALOG or BROWSE"),
    ("groups: {pii-readers: [hok-pipeline]}", "groups.pii-readers",
     f"declares only its own groups, named 'hok-...', and adds members to them only "
     f"(pii-readers is declared by {PROJECT})"),
    ("groups: {all-tenants: [hok-pipeline]}", "groups.all-tenants", "(all-tenants is "),
    ("grants: [{securable: TABLE silver.customers, to: hok-pipeline, privileges: [SELECT]}]",
     "grants[0]", "TABLE dev.silver.customers is not domain 'hok''s"),
    ("grants: [{securable: SCHEMA gold, to: hok-pipeline, privileges: [SELECT]}]",
     "grants[0]", "SCHEMA dev.gold is not domain 'hok''s"),
    ("grants: [{securable: TABLE churn.training_set, to: hok-pipeline, privileges: "
     "[SELECT]}]", "grants[0]", "TABLE dev.churn.training_set is not domain 'hok''s"),
    ("owners: [{securable: TABLE silver.customers, owner: hok-pipeline}]", "owners[0]",
     "TABLE dev.silver.customers is not domain 'hok''s"),
    ("owners: [{securable: CATALOG, owner: hok-pipeline}]", "owners[0]", "CATALOG dev: "),
    ("tags: [{securable: TABLE silver.customers, column: email, tags: {pii: ''}}]",
     "tags[0]", "TABLE dev.silver.customers is not domain 'hok''s"),
    ("column_masks: [{table: silver.customers, column: email, function: silver.mask_email}]",
     "column_masks[0]", "TABLE dev.silver.customers is not domain 'hok''s"),
    ("functions: [{name: silver.tenant_rows, parameters: t STRING, returns: BOOLEAN, "
     "body: 'TRUE'}]", "functions[0]",
     "function dev.silver.tenant_rows is in schema dev.silver, not one of domain 'hok''s own"),
    ("schemas: [{name: hok_lab}]\nfunctions: [{name: hok_lab.f, parameters: t STRING, "
     "body: 'TRUE'}]\nrow_filters: [{table: silver.customers, function: hok_lab.f, "
     "columns: [tenant_id]}]", "row_filters[0]",
     "TABLE dev.silver.customers is not domain 'hok''s"),
    ("column_masks: [{table: silver.pings, column: vehicle_id, function: silver.nope}]",
     "column_masks[0]", "function dev.silver.nope is declared by neither this policy nor "
     "the project policy"),
    ("schemas: [{name: churn, owner: hok-pipeline}]", "schemas[0]",
     "schema dev.churn is domain 'churn''s model schema (owner hok-pipeline here, ml "
     "there)"),
    ("users: [eve]", "users", "a domain policy declares no user"),
    ("grants: [{securable: TABLE silver.pings, to: churn-pipeline, privileges: [READ]}]",
     "grants[0]", "READ"),  # malformed: refused at load, not when every run applies it
    ("service_principals: [churn-pipeline]", "service_principals[1]",
     "'churn-pipeline' is not domain 'hok''s"),
])
def test_an_overstepping_domain_policy_breaks_its_package_naming_file_entry_and_why(
        folder: Path, policy: str, entry: str, why: str) -> None:
    text = policy.replace("service_principals: [", "service_principals: [hok-pipeline, ")
    if "service_principals" not in text:
        text = f"service_principals: [hok-pipeline]\n{text}"
    hok = package(folder, "hok", policy=text)
    error = broken(hok)
    assert error.startswith(f"{hok / 'policy.yaml'}: {entry}: "), error
    assert why in error, error
    assert "\n" not in error
    assert "churn" in discover().declared  # the other domains carry on


def sensors(folder: Path, policy: str) -> Path:
    """The boundary tests' `sensors` domain as a package of `folder`, with `policy`."""
    where = folder / "sensors"
    where.mkdir()
    (where / "__init__.py").write_text("from tests.boundary_domain import SENSORS as DOMAIN\n")
    (where / "policy.yaml").write_text(policy)
    return where


def test_the_stranger_s_policy_is_refused_never_applied_and_said_by_domains_and_run(
        folder: Path, settings: Settings) -> None:
    """Beside it, a domain policy within its scope is applied: its own principals and group,
    its own schema, USE CATALOG and BROWSE, a grant on its own table to churn's pipeline (how
    a cross-domain read is granted), a tag on its own schema."""
    hok = package(folder, "hok", policy=STRANGER)
    sensors(folder, """service_principals: [sensors-pipeline, sensors-bot]
groups: {sensors-readers: [sensors-bot, analysts]}
schemas: [{name: sensors_lab, owner: sensors-pipeline}]
grants:
  - {securable: CATALOG, to: sensors-bot, privileges: [USE CATALOG, BROWSE]}
  - {securable: SCHEMA sensors_lab, to: sensors-readers, privileges: [USE SCHEMA, SELECT]}
  - {securable: TABLE gold.hottest, to: churn-pipeline, privileges: [SELECT]}
tags: [{securable: SCHEMA sensors_lab, tags: {domain: sensors}}]
""")
    principals, policies = domain_principals()
    assert principals == {"churn": "churn-pipeline", "sensors": "sensors-pipeline"}
    assert str(hok / "policy.yaml") not in policies  # hok runs nothing
    apply_policies(settings.root, settings.env, policies)
    apply_domain_grants(settings.root, settings.env, list(principals))
    m = Metastore(settings.root, settings.env)
    assert m.securable("SCHEMA", "silver").owner == "data-eng"
    m.check("churn-pipeline", "SELECT", "TABLE", "gold.hottest")
    assert m.securable("SCHEMA", "sensors_lab").owner == "sensors-pipeline"
    state = m.store.read()
    assert "hok-pipeline" not in state["principals"]
    assert not [g for g in state["grants"] if g["securable"] == "CATALOG dev"
                and g["privilege"] not in ("USE CATALOG", "BROWSE")]
    line = (f"domain package left out: {hok}: {hok / 'policy.yaml'}: groups.pii-readers: a "
            "domain policy declares only its own groups, named 'hok-...', and adds members to "
            f"them only (pii-readers is declared by {PROJECT})")
    for command in (["domains"], ["run", "--domain", "churn"]):  # nothing landed: runs none
        said = CliRunner().invoke(app, command).stderr
        assert [x.split(": ", 1)[1] for x in said.splitlines() if str(hok) in x] == [
            line], said  # after the command's path


def test_two_policies_declaring_one_schema_are_both_refused_naming_both_files(
        folder: Path) -> None:
    one = package(folder, "hok", policy="service_principals: [hok-pipeline]\n"
                  "schemas: [{name: lab, owner: hok-pipeline}]\n")
    two = sensors(folder, "service_principals: [sensors-pipeline]\n"
                  "schemas: [{name: lab, owner: sensors-pipeline}]\n")
    assert broken(one) == (f"{one / 'policy.yaml'}: schemas[0]: schema dev.lab is also "
                           f"declared by {two / 'policy.yaml'} (owner hok-pipeline here, "
                           "sensors-pipeline there)")
    assert broken(two) == (f"{two / 'policy.yaml'}: schemas[0]: schema dev.lab is also "
                           f"declared by {one / 'policy.yaml'} (owner sensors-pipeline here, "
                           "hok-pipeline there)")
    assert list(discover().declared) == ["churn"]


def test_a_table_declared_in_another_domain_s_schema_is_refused_at_load(folder: Path) -> None:
    where = package(folder, "htschurn", HOSTILE["htschurn"])
    assert broken(where) == ("table dev.churn.evil_set is in schema dev.churn, domain "
                             "'churn''s: a domain declares tables only in its own schemas and "
                             "the shared layers")


@pytest.mark.parametrize(("name", "table"), [
    ("hreads", "silver.customers"), ("hftpii", "silver.customers"),
    ("hlabelsother", "silver.churn_labels")])
def test_declaring_another_domain_s_table_grants_nothing_and_its_run_is_denied(
        folder: Path, settings: Settings, name: str, table: str) -> None:
    package(folder, name, HOSTILE[name])
    declared = discover().declared[name]  # the package loads: the read is declared
    assert table in grants.needs(declared).reads
    principal = f"{name}-pipeline"
    assert not [k for k in grants.plan(declared, "dev").grants if k[0] == f"TABLE dev.{table}"]
    principals, policies = domain_principals()
    apply_policies(settings.root, settings.env, policies)
    apply_domain_grants(settings.root, settings.env, list(principals))
    m = Metastore(settings.root, settings.env)
    with pytest.raises(PermissionDenied, match=f"does not have SELECT on TABLE dev.{table}"):
        m.check(principal, "SELECT", "TABLE", table)
    with pytest.raises(PermissionDenied) as denied:
        check_reads(settings.root, settings.env, name)
    assert str(denied.value).startswith(
        f"permission denied: '{principal}' does not have SELECT on TABLE dev.{table} (domain "
        f"{name!r} declares it as an input, but a read of a table it does not own is granted "
        f"by the table's owner, never derived from a declaration: grant it in domain "
        f"'churn''s {CHURN_POLICY}: {{securable: TABLE {table}, to: {principal}, "
        "privileges: [SELECT]}"), denied.value
    seen: list[str] = []  # a run of the domain: denied before its first step runs
    job = domain_job(settings, name, lambda resource: seen.append(resource.catalog().principal))
    result = job.execute_in_process(raise_on_error=False)
    assert not result.success and seen == []
    # the owner grants it (an admin here: churn's policy.yaml or the project's would): allowed
    m.grant(["SELECT"], "TABLE", table, principal, as_principal=local_user())
    check_reads(settings.root, settings.env, name)
    assert job.execute_in_process().success and seen == [principal]


def test_the_audit_flags_catalog_wide_privileges_and_a_shared_layer_owned_by_a_pipeline(
        settings: Settings) -> None:
    m = Metastore(settings.root, settings.env)
    apply_policies(settings.root, settings.env, [str(PROJECT), str(CHURN_POLICY)])
    state = m.store.read()
    assert not [f for f in grant_findings(state)[1] if f.kind == "catalog_grant"]
    assert shared_schema_owners(state) == []
    admin = local_user()
    m.grant(["ALL PRIVILEGES"], "CATALOG", "dev", "churn-pipeline", as_principal=admin)
    m.grant(["CREATE SCHEMA"], "CATALOG", "dev", "analysts", as_principal=admin)
    m.grant(["BROWSE"], "CATALOG", "dev", "churn-serving", as_principal=admin)
    m.set_owner("SCHEMA", "silver", "churn-pipeline", as_principal=admin)
    state = m.store.read()
    found = {(f.severity, f.securable, f.message.split(":")[0])
             for f in grant_findings(state)[1] if f.kind == "catalog_grant"}
    assert found == {("high", "dev", "ALL PRIVILEGES on CATALOG dev is held by "
                                     "'churn-pipeline'"),
                     ("high", "dev", "CREATE SCHEMA on CATALOG dev is held by 'analysts'")}
    [owned] = shared_schema_owners(state)
    assert (owned.severity, owned.kind, owned.securable) == (
        "high", "shared_schema_owner", "dev.silver")
    assert "'churn-pipeline'" in owned.message
    audit = run_audit(Catalog(settings.root, settings.env), None)  # the daily audit's
    assert {(f.kind, f.securable) for f in audit.findings if f.severity == "high"} >= {
        ("catalog_grant", "dev"), ("shared_schema_owner", "dev.silver")}


def test_the_owning_domain_s_policy_grants_a_read_of_its_table(
        folder: Path, settings: Settings) -> None:
    """hreads reads sensors' gold.hottest: denied, naming sensors' policy.yaml, until that
    policy grants it (to hreads' pipeline, created before the policies are applied); then its
    run reads it as its own principal."""
    package(folder, "hreads", "model = dc.replace(model, batch_scoring=dc.replace("
            "model.batch_scoring, reads=(base.LABELS, 'gold.hottest')))")
    owner = sensors(folder, "service_principals: [sensors-pipeline]\n")
    declared = discover().declared["hreads"]
    assert not [k for k in grants.plan(declared, "dev").grants if "gold.hottest" in k[0]]
    read: list[int] = []
    job = domain_job(settings, "hreads",
                     lambda resource: read.append(resource.catalog().read("gold.hottest").height))
    result = job.execute_in_process(raise_on_error=False)
    assert not result.success and read == []
    with pytest.raises(PermissionDenied, match=(
            f"grant it in domain 'sensors''s {owner / 'policy.yaml'}: "
            r"\{securable: TABLE gold.hottest, to: hreads-pipeline, privileges: \[SELECT\]\}")):
        check_reads(settings.root, settings.env, "hreads")
    (owner / "policy.yaml").write_text(
        "service_principals: [sensors-pipeline]\ngrants:\n  - {securable: TABLE gold.hottest, "
        "to: hreads-pipeline, privileges: [SELECT]}\n")
    os.utime(owner / "policy.yaml", ns=(1, 1))  # another version of the file: applied again
    Catalog(settings.root, settings.env).create_table(  # sensors' table, as its run makes it
        "gold.hottest", pl.Schema({"day": pl.Date}), TableInfo(owner="team:x", comment="x"))
    assert job.execute_in_process().success and read == [0]


def test_run_says_why_a_domain_s_run_is_denied_before_its_first_step(
        folder: Path, settings: Settings) -> None:
    """Denied in the resource's setup (no step failed): `run` still says why, without
    --debug, in one line: the innermost cause, naming the table, pipeline and policy file."""
    from tests.domain_packages.fleet import land_day

    package(folder, "hreads", "model = dc.replace(model, batch_scoring=dc.replace("
            "model.batch_scoring, reads=(base.LABELS, 'gold.hottest')))")
    owner = sensors(folder, "service_principals: [sensors-pipeline]\n")
    land_day(settings.landing, date(2026, 2, 1))

    result = CliRunner().invoke(app, ["run", "--domain", "hreads"])

    assert result.exit_code == 1, result.output + result.stderr
    (line,) = [x for x in result.stderr.splitlines() if "hreads_daily_refresh: run" in x]
    assert re.fullmatch(
        r"hreads_daily_refresh: run \S+ failed: PermissionDenied: permission denied: "
        r"'hreads-pipeline' does not have SELECT on TABLE dev\.gold\.hottest .*"
        + re.escape(f"grant it in domain 'sensors''s {owner / 'policy.yaml'}: {{securable: "
                    "TABLE gold.hottest, to: hreads-pipeline, privileges: [SELECT]}") + ".*",
        line), line
