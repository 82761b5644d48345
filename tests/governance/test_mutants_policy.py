"""Tests killing the mutants of `lakehouse_ml.governance.domain_grants` that survived the
policy group's tests (issue 13): the engine's functions called directly on a real metastore
under tmp_path, with the declarations of `churn`, `fleet` and `sensors` (some changed with
`dataclasses.replace`, as a user's package could declare them).

- an apply's audit records, one per change, exactly as the metastore's own calls write them
  (createPrincipal, createSchema, createTable, updateTables, updatePermissions add/remove),
  by the principal applying;
- only a metastore admin applies (the principal given, never the caller's own): the refusal
  names principal, "metastore admin" and the metastore, and is audited;
- what the engine applied is remembered per domain (serving's too) with its plan's sha256,
  a grant an admin gave before the first apply included, so revoking it stands; a grant no
  longer derived is revoked; retiring with no domain changes nothing;
- ownership: a table of the domain keeps its declared owner or its own pipeline, one owned
  by another pipeline (the shared one: by any pipeline, its own too) goes to its schema's owner;
- the reads `needs` derives (a model's training set when the domain has none, a monitor's
  baseline and labels), the denials `denied_reads` words (owner's policy or the project's,
  USE SCHEMA outside the shared layers, `catalog.schema.table` names shortened), and the
  schemas serving selects from.

No survivor was equivalent. Nine were removed by simplifying the code they mutated (each
behaviour kept): `denied_reads` looks its table up with `Namespace.named` alone (which already
falls back from `find`); `_securables` takes back a declared TABLE (a pipeline's plan declares
only tables it writes, a serving plan is applied alone) instead of re-parsing the MODIFY grants'
keys; `_revoked` reads `state[APPLIED]` (its callers always set it); `serving_plan` replaces the
grants of `_plan`'s result instead of rebuilding it (the domain it passed `_plan` was unused).
"""

from __future__ import annotations

import dataclasses as dc
from collections.abc import Iterator

import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.config import Settings
from lakehouse_ml.domains import PROJECT_POLICY, Declared, discover
from lakehouse_ml.features import FeatureLookup
from lakehouse_ml.governance import Metastore, PermissionDenied
from lakehouse_ml.governance import domain_grants as grants
from lakehouse_ml.governance.policy import APPLIED, revoked_since_applied
from lakehouse_ml.governance.principals import local_user
from lakehouse_ml.monitoring.spec import BaselineTable, InferenceLog, LabelJoin, Monitor
from tests.governance.audit_support import params, records
from tests.user_domains import declare_user_domains

SENSORS, FLEET = "sensors-pipeline", "fleet-pipeline"
ROWS = pl.Schema({"k": pl.String})
SENSORS_SCHEMAS = ("bronze", "gold", "pipeline", "silver")
SENSORS_TABLES = ("bronze.readings", "bronze.readings_manifest", "bronze.readings_rejects",
                  "gold.hottest", "pipeline.progress", "silver.readings",
                  "silver.readings_moves", "silver.readings_quarantine")
METASTORE_DENIAL = ("permission denied: 'ann' does not have metastore admin on METASTORE "
                    "metastore")


@pytest.fixture
def declared(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Declared]]:
    """churn's, fleet's and sensors' declarations, on an empty lakehouse (`settings`)."""
    declare_user_domains(monkeypatch)
    yield dict(discover().declared)


def logged(m: Metastore) -> list[tuple[str, str, int, dict[str, str]]]:
    """(user, action, status, params) of each `unityCatalog` record, in order."""
    return [(r["user"], r["action"], r["status"], params(r))
            for r in records(m).iter_rows(named=True)]


def applied(m: Metastore, principal: str) -> list[tuple[str, str, str, str]]:
    """(securable, privilege, policy, sha256) the engine or a policy remembers as applied."""
    return [(e["securable"], e["privilege"], e["policy"], e["sha256"])
            for e in m.store.read()[APPLIED] if e["principal"] == principal]


def with_model_training_set(fleet: Declared, **changes: object) -> Declared:
    """fleet with no training set of its own, its model's changed by `changes`."""
    model = fleet.models[0]
    return dc.replace(fleet, domain=dc.replace(fleet.domain, training_set=None), models=(
        dc.replace(model, training_set=dc.replace(model.training_set, **changes)),))


def test_an_apply_records_each_change_as_the_metastore_s_calls_do(
        declared: dict[str, Declared], settings: Settings) -> None:
    m = Metastore(settings.root, "dev")
    grants.apply_domain_grants(m, [declared["sensors"]])
    admin, ok = local_user(), 200
    assert logged(m) == [
        (admin, "createPrincipal", ok, {"principal": SENSORS, "type": "service_principal"}),
        *((admin, "createSchema", ok, {"securable": f"SCHEMA dev.{x}"})
          for x in SENSORS_SCHEMAS),
        *((admin, "createTable", ok, {"securable": f"TABLE dev.{t}"}) for t in SENSORS_TABLES),
        (admin, "updatePermissions", ok, {"securable": "CATALOG dev", "principal": SENSORS,
                                          "add": "USE CATALOG"}),
        *((admin, "updatePermissions", ok, {"securable": f"SCHEMA dev.{x}", "principal": SENSORS,
                                            "add": "CREATE TABLE,USE SCHEMA"})
          for x in SENSORS_SCHEMAS),
        *((admin, "updatePermissions", ok, {"securable": f"TABLE dev.{t}", "principal": SENSORS,
                                            "add": "MODIFY,SELECT"}) for t in SENSORS_TABLES)]


def test_a_grant_no_longer_derived_is_revoked_and_recorded(
        declared: dict[str, Declared], settings: Settings) -> None:
    """fleet declares a monitor, then no more: its metric tables' grants and the monitoring
    schema's are revoked (one `remove` record per securable), no one else's."""
    m = Metastore(settings.root, "dev")
    fleet = declared["fleet"]
    grants.apply_domain_grants(m, [declared["sensors"]])  # another pipeline's grants, kept
    watched = dc.replace(fleet, monitors=(Monitor("gold.vehicle_days", "snapshot"),))
    grants.apply_domain_grants(m, [watched])
    metrics = [f"TABLE dev.monitoring.gold_vehicle_days_{x}_metrics" for x in ("drift",
                                                                                "profile")]
    assert {e[0] for e in applied(m, FLEET)} >= {*metrics, "SCHEMA dev.monitoring"}
    before, held = len(logged(m)), len(m.store.read()["grants"])

    grants.apply_domain_grants(m, [fleet])

    admin = local_user()
    assert logged(m)[before:] == [
        (admin, "updatePermissions", 200, {"securable": "SCHEMA dev.monitoring",
                                           "principal": FLEET,
                                           "remove": "CREATE TABLE,USE SCHEMA"}),
        *((admin, "updatePermissions", 200, {"securable": t, "principal": FLEET,
                                             "remove": "MODIFY,SELECT"}) for t in metrics)]
    assert len(m.store.read()["grants"]) == held - 6
    assert not {e[0] for e in applied(m, FLEET)} & {*metrics, "SCHEMA dev.monitoring"}
    assert len(applied(m, SENSORS)) == len(grants.plan(declared["sensors"], "dev").grants)


def test_only_a_metastore_admin_applies_and_the_refusal_is_audited(
        declared: dict[str, Declared], settings: Settings) -> None:
    """As `ann` (no admin), whoever calls: each entry point refuses, naming ann, "metastore
    admin" and the metastore, audits the refusal (403) and changes nothing."""
    m = Metastore(settings.root, "dev")
    fleet = declared["fleet"]
    attempts = {
        "updatePermissions": lambda: grants.apply_domain_grants(m, [fleet], as_principal="ann"),
        "createPrincipal": lambda: grants.create_principals(m, [FLEET], as_principal="ann"),
    }
    for action, attempt in attempts.items():
        with pytest.raises(PermissionDenied) as denied:
            attempt()
        assert (denied.value.principal, denied.value.privilege, denied.value.securable) == (
            "ann", "metastore admin", "METASTORE metastore"), action
        assert str(denied.value) == METASTORE_DENIAL
    with pytest.raises(PermissionDenied, match="'ann' does not have metastore admin"):
        grants.apply_serving_grants(m, fleet, as_principal="ann")
    assert m.store.version() == 0
    records_ = records(m)
    assert [(r["user"], r["action"], r["status"], r["error"], params(r))
            for r in records_.iter_rows(named=True)] == [
        ("ann", "updatePermissions", 403, METASTORE_DENIAL,
         {"securable": "METASTORE metastore"}),
        ("ann", "createPrincipal", 403, METASTORE_DENIAL,
         {"principal": FLEET, "type": "service_principal"}),
        ("ann", "updatePermissions", 403, METASTORE_DENIAL,
         {"securable": "METASTORE metastore"})]


def test_create_principals_declares_service_principals_once(settings: Settings) -> None:
    m = Metastore(settings.root, "dev")
    grants.create_principals(m, [FLEET, SENSORS, FLEET], as_principal=local_user())
    assert m.store.read()["principals"] == {FLEET: {"type": "service_principal"},
                                            SENSORS: {"type": "service_principal"}}
    version = m.store.version()
    grants.create_principals(m, [SENSORS])
    assert m.store.version() == version


def test_what_the_engine_applied_is_remembered_per_domain_with_its_plan_s_sha256(
        declared: dict[str, Declared], settings: Settings) -> None:
    """Serving's grants too are `engine:<domain>`'s; a grant an admin gave before the first
    apply is remembered as applied, so an admin's later revocation of it stands."""
    m = Metastore(settings.root, "dev")
    fleet = declared["fleet"]
    grants.create_principals(m, [FLEET])
    m.grant(["USE CATALOG"], "CATALOG", "dev", FLEET)  # held before the engine applies

    grants.apply_domain_grants(m, [fleet])
    assert grants.apply_serving_grants(m, fleet) == "fleet-serving"

    sha256 = grants.digest([fleet], "dev")
    mine = applied(m, FLEET)
    assert {(k, p) for k, p, _, _ in mine} == {
        (k, p) for k, _, p in grants.plan(fleet, "dev").grants}
    assert {(policy, sha) for _, _, policy, sha in mine} == {("engine:fleet", sha256)}
    serving = applied(m, "fleet-serving")
    assert len(serving) == 11 and {policy for _, _, policy, _ in serving} == {"engine:fleet"}
    assert {sha for _, _, _, sha in serving} != {sha256}  # its own plan's

    m.revoke(["USE CATALOG"], "CATALOG", "dev", FLEET)
    grants.apply_domain_grants(m, [fleet])
    assert [(e["securable"], e["privilege"]) for e in revoked_since_applied(m.store.read())
            if e["principal"] == FLEET] == [("CATALOG dev", "USE CATALOG")]
    with pytest.raises(PermissionDenied, match="USE CATALOG on CATALOG dev"):
        m.check(FLEET, "USE CATALOG", "CATALOG", "dev")


def test_retiring_with_no_domain_on_an_empty_lakehouse_changes_nothing(
        settings: Settings) -> None:
    m = Metastore(settings.root, "dev")
    grants.apply_domain_grants(m, [], retire=True)
    assert m.store.version() == 0


def test_only_a_table_owned_by_another_pipeline_is_given_to_its_schema_s_owner(
        declared: dict[str, Declared], settings: Settings) -> None:
    """Tables of fleet created before its grants: one owned as declared (a team) and one by
    fleet's own pipeline keep their owner; one owned by sensors' pipeline, and the shared
    `pipeline.progress` owned by fleet's own, go to their schema's owner (the admin)."""
    admin = Catalog(settings.root, "dev")
    owners = {"gold.vehicle_days": "team:data-eng", "silver.pings": FLEET,
              "silver.breakdowns": SENSORS, "pipeline.progress": FLEET}
    for table, owner in owners.items():
        admin.create_table(table, ROWS, TableInfo(owner=owner, comment=table))
    m = Metastore(settings.root, "dev")

    grants.apply_domain_grants(m, [declared["fleet"], declared["sensors"]])

    me = local_user()
    assert {t: m.securable("TABLE", t).owner for t in owners} == {
        "gold.vehicle_days": "team:data-eng", "silver.pings": FLEET,
        "silver.breakdowns": me, "pipeline.progress": me}
    changes = [(action, p) for _, action, _, p in logged(m)
               if action in ("createTable", "updateTables")
               and p["securable"].removeprefix("TABLE dev.") in owners]
    assert changes == [("updateTables", {"securable": f"TABLE dev.{t}", "owner": me})
                       for t in ("pipeline.progress", "silver.breakdowns")]


def test_needs_reads_every_input_its_declarations_name(declared: dict[str, Declared]) -> None:
    """A model's training set read though the domain declares none; a monitor's table,
    baseline table and later labels; a label column in the monitored table adds no read."""
    fleet = declared["fleet"]
    assert grants.needs(with_model_training_set(fleet, labels="silver.customers")).reads == {
        "silver.customers"}
    log = InferenceLog("model_id", "prediction", labels=LabelJoin(
        "silver.churn_labels", keys=("customer_id",), time_column="t", label="churned"))
    monitors = (Monitor("gold.customer_recency", "inference_log", timestamp_col="t",
                        baseline=BaselineTable("gold.customer_support"), inference_log=log),
                Monitor("gold.customer_profile", "inference_log", timestamp_col="t",
                        inference_log=InferenceLog("model_id", "prediction", label_col="y")))
    assert grants.needs(dc.replace(fleet, monitors=monitors)).reads == {
        "gold.customer_recency", "gold.customer_support", "silver.churn_labels",
        "gold.customer_profile"}


def test_denied_reads_name_where_to_grant_and_the_schema_to_use(
        declared: dict[str, Declared], settings: Settings) -> None:
    """fleet's batch scoring reads sensors' table (named with its catalog), churn's
    predictions (a domain's own schema: USE SCHEMA is the owner's to grant too) and a table
    nobody declares (the project policy grants it); a read it holds SELECT on is not denied."""
    fleet = declared["fleet"]
    model = fleet.models[0]
    reads = ("dev.gold.hottest", "churn.predictions", "gold.nobody", "silver.customers")
    reader = dc.replace(fleet, models=(dc.replace(model, batch_scoring=dc.replace(
        model.batch_scoring, reads=reads)),))
    m = Metastore(settings.root, "dev")
    Catalog(settings.root, "dev").create_table("silver.customers", ROWS, TableInfo(owner="x"))
    grants.create_principals(m, [FLEET])
    m.grant(["USE CATALOG"], "CATALOG", "dev", FLEET)
    m.grant(["USE SCHEMA"], "SCHEMA", "silver", FLEET)
    m.grant(["SELECT"], "TABLE", "silver.customers", FLEET)
    version = m.store.version()

    denied = grants.denied_reads(m, reader, declared.values())

    sensors = f"domain 'sensors''s {declared['sensors'].where}/policy.yaml"
    churn = f"domain 'churn''s {declared['churn'].where}/policy.yaml"
    said = (f"permission denied: '{FLEET}' does not have SELECT on TABLE dev.{{}} (domain "
            "'fleet' declares it as an input, but a read of a table it does not own is "
            "granted by the table's owner, never derived from a declaration: grant it in {}: "
            f"{{{{securable: TABLE {{}}, to: {FLEET}, privileges: [SELECT]}}}}{{}})")
    assert [str(d) for d in denied] == [
        said.format("churn.predictions", churn, "churn.predictions",
                    ", with USE SCHEMA on SCHEMA churn"),
        said.format("gold.hottest", sensors, "gold.hottest", ""),
        said.format("gold.nobody", f"the project policy {PROJECT_POLICY}", "gold.nobody", "")]
    assert [(d.principal, d.privilege, d.securable) for d in denied] == [
        (FLEET, "SELECT", f"TABLE dev.{t}")
        for t in ("churn.predictions", "gold.hottest", "gold.nobody")]
    assert m.store.version() == version


def test_serving_uses_each_schema_it_selects_from(declared: dict[str, Declared]) -> None:
    """fleet's model looks up its domain's training set, kept in a schema of its own that no
    model writes: serving may use that schema (to select the table), not create in it."""
    fleet = declared["fleet"]
    kept = dc.replace(fleet.domain.training_set, name="fleetsets.training_set")
    lookup = FeatureLookup("fleetsets.training_set", lookup_key="vehicle_id")
    model = dc.replace(fleet.models[0], training_set=dc.replace(
        fleet.models[0].training_set, feature_lookups=(lookup,)))
    one = grants.serving_plan(dc.replace(fleet, domain=dc.replace(
        fleet.domain, training_set=kept), models=(model,)), "dev")
    assert one.schemas == ("dev.fleet", "dev.fleetsets", "dev.serving")
    assert {(k, p) for k, _, p in one.grants if k.startswith("SCHEMA dev.fleetsets")} == {
        ("SCHEMA dev.fleetsets", "USE SCHEMA")}
    assert ("TABLE dev.fleetsets.training_set", "fleet-serving", "SELECT") in one.grants
