"""Policy files: idempotent, checked before anything is applied; churn's grants its pipeline
exactly what the pipeline needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse_ml.domains import discover
from lakehouse_ml.governance import Metastore, PermissionDenied
from lakehouse_ml.governance.domain_grants import apply_domain_grants
from lakehouse_ml.governance.policy import PolicyError, apply_policy

CHURN = Path(__file__).parents[2] / "lakehouse_ml" / "domains" / "churn" / "policy.yaml"
PROJECT = CHURN.parents[1] / "policy.yaml"
"""The project policy: shared schemas, people and privileged groups (applied first)."""


def apply_churn(m: Metastore) -> Metastore:
    """The project policy, then churn's, as each pipeline process applies them."""
    apply_policy(PROJECT, metastore=m)
    return apply_policy(CHURN, metastore=m)


LAYERS = ("bronze", "silver", "gold", "churn", "monitoring")


def test_applying_twice_gives_the_same_state(root: str) -> None:
    m = Metastore(root, "dev")
    apply_churn(m)
    state, version = m.store.read(), m.store.version()
    apply_churn(m)
    assert (m.store.read(), m.store.version()) == (state, version)


def test_churn_policy_gives_the_pipeline_what_it_needs_and_no_more(root: str) -> None:
    """The policy itself grants churn's pipeline no data: the engine's derived grants do, on
    churn's own tables only (tests/governance/test_domain_grants.py)."""
    m = apply_churn(Metastore(root, "dev"))
    assert {g.name for g in m.children("dev")} >= {f"dev.{s}" for s in LAYERS}
    with pytest.raises(PermissionDenied, match="'churn-pipeline' does not have USE CATALOG"):
        m.check("churn-pipeline", "SELECT", "TABLE", "silver.customers")
    apply_domain_grants(m, [discover().declared["churn"]])
    for schema in LAYERS:
        for privilege in ("CREATE TABLE",):
            m.check("churn-pipeline", privilege, "SCHEMA", schema)
    for privilege in ("SELECT", "MODIFY"):
        m.check("churn-pipeline", privilege, "TABLE", "silver.customers")
        with pytest.raises(PermissionDenied, match=f"{privilege} on SCHEMA dev.silver"):
            m.check("churn-pipeline", privilege, "SCHEMA", "silver")  # nothing schema-wide
    with pytest.raises(PermissionDenied, match="CREATE MODEL"):  # the engine declares the model
        m.check("churn-pipeline", "CREATE MODEL", "SCHEMA", "churn")
    assert m.resolve("dev.churn.churn_clf").owner == "ml"  # its schema's owner
    m.check("churn-pipeline", "EXECUTE", "MODEL", "churn.churn_clf")
    with pytest.raises(PermissionDenied, match="'churn-pipeline' does not have CREATE SCHEMA"):
        m.check("churn-pipeline", "CREATE SCHEMA", "CATALOG", "dev")
    with pytest.raises(PermissionDenied, match="MANAGE"):
        m.check("churn-pipeline", "MANAGE", "TABLE", "silver.customers")
    # serving's grants are derived too (domain_grants.serving_plan): the policy gives none
    assert not [g for g in m.store.read()["grants"] if g["principal"] == "churn-serving"]
    with pytest.raises(PermissionDenied, match="'churn-serving' does not have USE CATALOG"):
        m.check("churn-serving", "SELECT", "TABLE", "silver.customers")
    assert not {x.privilege for x in m.effective_privileges("analysts", "SCHEMA", "silver")}
    assert {r["principal"] for r in m.show_grants("SCHEMA", "churn")} == {
        "churn-pipeline", "analysts", "data-eng", "ml"}
    assert m.resolve("dev.silver").owner == "data-eng"


def test_applied_as_a_non_admin_it_is_refused(root: str) -> None:
    with pytest.raises(PermissionDenied, match="'ann' does not have metastore admin"):
        apply_policy(CHURN, "ann", metastore=Metastore(root, "dev"))


@pytest.mark.parametrize(("text", "message"), [
    ("- a list", "a policy is a mapping"),
    ("roles: [x]", "unknown section\\(s\\) roles"),
    ("grants: [{securable: TABLE silver.customers, to: ann}]",
     r"grants\[0\]: missing privileges"),
    ("grants: [{on: TABLE silver.customers, to: ann, privileges: [SELECT]}]",
     r"grants\[0\]: missing securable; unknown field\(s\) True"),
    ("grants: [{securable: VIEW x, to: ann, privileges: [SELECT]}]",
     r"grants\[0\]: 'securable' must be 'TYPE \[name\]'"),
    ("grants: [{securable: TABLE silver.customers, to: carol, privileges: [SELECT]}]",
     r"grants\[0\]: principal 'carol' does not exist"),
    ("groups: {g: [nobody]}", r"groups.g: principal 'nobody' does not exist"),
    ("users: [[1]]", r"users\[0\]: a principal name is a string"),
    ("grants: {a: b}", "'grants' must be a list"),
    ("users: [ann\n", "cannot read the policy"),
])
def test_malformed_policies_name_the_file_and_entry(root: str, tmp_path: Path, text: str,
                                                    message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises((PolicyError, LookupError, ValueError), match=message) as raised:
        apply_policy(path, metastore=Metastore(root, "dev"))
    assert str(path) in str(raised.value)


def test_a_malformed_entry_applies_nothing(root: str, tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("users: [ann]\ngrants: [{securable: TABLE t, to: ann}]\n")
    m = Metastore(root, "dev")
    with pytest.raises(PolicyError):
        apply_policy(path, metastore=m)
    assert m.store.version() == 0
