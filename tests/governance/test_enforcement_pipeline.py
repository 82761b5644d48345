"""The pipeline acts as its domain's service principal with the grants the engine derives from
its declarations: the policy and those grants are applied before the first asset, every
asset's catalog acts as `churn-pipeline`, the daily refresh succeeds using only derived
table-level grants (nothing schema-wide on the shared layers), and the previews Dagster shows
are masked."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

import lakehouse_ml.domains
from lakehouse_ml.catalog import Catalog
from lakehouse_ml.catalog.access import ACCESS_ACTION
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories import names
from lakehouse_ml.defs.factories.features import feature_assets
from lakehouse_ml.defs.factories.medallion import daily_partitions, medallion_assets
from lakehouse_ml.defs.resources import (
    LakehouseResource,
    apply_policies,
    domain_principals,
    pipeline_identity,
)
from lakehouse_ml.domains import discover
from lakehouse_ml.domains.churn import DOMAIN
from lakehouse_ml.domains.churn.generator import GenerationReport
from lakehouse_ml.governance import Metastore
from lakehouse_ml.governance.audit import audit_log
from lakehouse_ml.governance.audit_chain import TABLE as AUDIT
from lakehouse_ml.governance.domain_grants import plan
from lakehouse_ml.governance.principals import current_principal
from lakehouse_ml.governance.privileges import CREATE_TABLE, MODIFY, SELECT
from tests.conftest import day_keys
from tests.user_domains import declare_user_domains

POLICY = Path(__file__).parents[2] / "lakehouse_ml" / "domains" / "churn" / "policy.yaml"
POLICIES = [str(POLICY.parents[1] / "policy.yaml"), str(POLICY)]
"""The policy files a pipeline process applies: the project's first, then churn's."""
PRINCIPAL = "churn-pipeline"
BROKEN = Path(__file__).parents[1] / "domain_packages" / "broken"
DAILY_SCHEMAS = {"bronze", "silver", "gold", "pipeline"}
"""The schemas the daily refresh (medallion and feature assets) reads and writes."""


def used_privileges(root: str) -> set[tuple[str, str, str]]:
    """(privilege, securable type, name) the pipeline's audited calls needed."""
    audit_log(root, "dev").flush()
    records = Catalog(root, "dev", governed=False).read(AUDIT).filter(
        pl.col("user_identity").struct.field("email") == PRINCIPAL)
    needed = set()
    for action, params in records.select("action_name", "request_params").iter_rows():
        given = {p["key"]: p["value"] for p in params}
        if action == ACCESS_ACTION:
            privilege = SELECT if given["operation"] == "READ" else MODIFY
            needed.add((privilege, "TABLE", given["securable"]))
        elif action == "createTable":
            needed.add((CREATE_TABLE, "SCHEMA", given["securable"].rsplit(".", 1)[0]))
    return needed


def test_churn_pipeline_runs_as_its_service_principal_with_its_derived_grants(
        settings: Settings, landing: GenerationReport) -> None:
    assert pipeline_identity() == (PRINCIPAL, POLICIES)
    resource = LakehouseResource.from_settings(settings, principal=PRINCIPAL,
                                               principals={"churn": PRINCIPAL},
                                               policies=POLICIES)
    assert resource.catalog().principal == PRINCIPAL
    days = day_keys(days=2)
    result = dg.materialize(  # resource setup applies the policy and the derived grants,
        # then the assets run
        [*medallion_assets(DOMAIN), *feature_assets(DOMAIN, daily_partitions(DOMAIN))],
        resources={"lakehouse": resource},
        tags={ASSET_PARTITION_RANGE_START_TAG: days[0], ASSET_PARTITION_RANGE_END_TAG: days[-1]})
    assert result.success

    metastore = Metastore(settings.root, settings.env)
    assert metastore.securable("SCHEMA", "silver").owner == "data-eng"  # the policy applied
    used = used_privileges(settings.root)
    assert {name.split(".")[1] for _, _, name in used} == DAILY_SCHEMAS
    sources = {(source.securable, source.privilege) for privilege, kind, name in used
               for source in metastore.effective_privileges(PRINCIPAL, kind, name)
               if source.privilege == privilege}
    # no more: every privilege used comes from a grant the engine derived for churn (SELECT
    # and MODIFY on a table of churn's, CREATE TABLE on a schema), nothing schema-wide
    derived = {(securable, privilege) for securable, _, privilege in
               plan(discover().declared["churn"], settings.env).grants}
    assert sources <= derived, sorted(sources - derived)
    assert {(kind, privilege) for privilege, kind, _ in used} == {
        ("TABLE", SELECT), ("TABLE", MODIFY), ("SCHEMA", CREATE_TABLE)}
    assert not [x for x in sources if x[0].startswith("SCHEMA") and x[1] != CREATE_TABLE]
    # and the privileges came from those grants only (not ownership, not admin)
    assert {s.via for p, k, n in used for s in metastore.effective_privileges(
        PRINCIPAL, k, n)} == {"grant"}


def test_a_code_location_with_several_domains_acts_as_the_launching_user(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    declare_user_domains(monkeypatch)  # fleet and sensors, which declare no policy
    principal, policies = pipeline_identity()
    assert (principal, policies) == ("", POLICIES)
    resource = LakehouseResource.from_settings(settings, principal=principal)
    assert resource.catalog().principal == current_principal()


def test_with_several_domains_each_domain_s_runs_act_as_its_service_principal(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run of a job a domain or its models produce carries the domain's tag and acts as
    its pipeline's principal, however many domains the location declares (acting as the
    launching user instead read churn's emails masked: every new customer quarantined and
    the profile snapshots of the redone days deleted); any other run acts as `principal`."""
    declare_user_domains(monkeypatch)
    every = {"churn": PRINCIPAL, "fleet": "fleet-pipeline", "sensors": "sensors-pipeline"}
    assert domain_principals() == (every, POLICIES)
    from lakehouse_ml.definitions import defs

    location = defs()
    resource = location.resources["lakehouse"]
    assert (resource.principal, resource.principals) == ("", every)
    for job in (names.daily_refresh("churn"), names.train_validate_deploy("churn_clf"),
                names.batch_score("churn_clf")):
        assert location.resolve_job_def(job).tags[names.DOMAIN_TAG] == "churn", job

    seen: dict[str, str] = {}

    @dg.op
    def acting(lakehouse: LakehouseResource) -> None:
        seen[str(len(seen))] = lakehouse.catalog().principal

    lakehouse = LakehouseResource.from_settings(settings, principals={"churn": PRINCIPAL},
                                                policies=POLICIES)
    for tags in ({names.DOMAIN_TAG: "churn"}, {names.DOMAIN_TAG: "fleet"}, {}):
        job = dg.GraphDefinition(name="g", node_defs=[acting]).to_job(
            resource_defs={"lakehouse": lakehouse}, tags=tags)
        assert job.execute_in_process().success
    assert list(seen.values()) == [PRINCIPAL, current_principal(), current_principal()]
    assert lakehouse.catalog(as_location=True).principal == current_principal()


def test_broken_domain_packages_do_not_change_whom_the_pipeline_acts_as(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Packages `domains.discover` leaves out (orphan_model and twice declare a DOMAIN) run
    nothing: churn alone still acts as its service principal."""
    monkeypatch.setattr(lakehouse_ml.domains, "__path__",
                        [*lakehouse_ml.domains.__path__, str(BROKEN)])
    assert {"orphan", "twice"} <= {Path(b.where).name.split("_")[0]
                                   for b in discover().broken}
    assert pipeline_identity() == (PRINCIPAL, POLICIES)


def test_the_policy_is_applied_once_per_process_and_file_version(
        settings: Settings, tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("users: [ann]\n")
    apply_policies(settings.root, settings.env, [str(policy)])
    metastore = Metastore(settings.root, settings.env)
    version = metastore.store.version()
    apply_policies(settings.root, settings.env, [str(policy)])
    assert metastore.store.version() == version  # nothing re-applied, nothing audited
    policy.write_text("users: [ann, bob]\n")
    os.utime(policy, ns=(1, 1))  # another version of the file
    apply_policies(settings.root, settings.env, [str(policy)])
    assert "bob" in metastore.store.read()["principals"]
