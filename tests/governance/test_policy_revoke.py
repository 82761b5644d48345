"""An admin's REVOKE of a grant the policy declared stands when the policy is applied again by
a new process (issue 13): the drift is a `revoked_policy_grant` finding of the governance audit
naming principal, privilege and securable; a grant the policy declares anew is applied, and one
taken out of the file and declared again is applied again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.governance import Metastore
from lakehouse_ml.governance.findings import MEDIUM
from lakehouse_ml.governance.findings_audit import run_audit
from lakehouse_ml.governance.policy import apply_policy
from lakehouse_ml.governance.sql import run_sql

GRANTS = [{"securable": "CATALOG", "to": "ann", "privileges": ["USE CATALOG"]},
          {"securable": "SCHEMA silver", "to": "ann", "privileges": ["USE SCHEMA", "SELECT"]}]


def _write(path: Path, grants: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"users": ["ann"], "grants": grants}))
    return path


def _apply_in_a_new_process(root: str, policy: Path) -> None:
    """`lakehouse-ml policy apply` as a pipeline process does, in a process of its own."""
    cli = Path(sys.executable).parent / "lakehouse-ml"
    env = {**os.environ, "LAKEHOUSE_ROOT": root, "LAKEHOUSE_ENV": "dev"}
    done = subprocess.run([str(cli), "policy", "apply", str(policy)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def _held(root: str) -> set[tuple[str, str]]:
    """(privilege, securable) ann holds by a direct grant."""
    return {(g["privilege"], g["securable"]) for g in Metastore(root, "dev").store.read()[
        "grants"] if g["principal"] == "ann"}


def test_a_revoked_grant_stays_revoked_and_is_a_finding(root: str, tmp_path: Path) -> None:
    policy = _write(tmp_path / "policy.yaml", GRANTS)
    apply_policy(policy, metastore=Metastore(root, "dev"))
    assert ("SELECT", "SCHEMA dev.silver") in _held(root)
    run_sql(Metastore(root, "dev"), "REVOKE SELECT ON SCHEMA dev.silver FROM `ann`")

    _apply_in_a_new_process(root, policy)
    assert _held(root) == {("USE CATALOG", "CATALOG dev"), ("USE SCHEMA", "SCHEMA dev.silver")}
    drift = [f for f in run_audit(Catalog(root, "dev"), None).findings
             if f.kind == "revoked_policy_grant"]
    assert [(f.severity, f.securable) for f in drift] == [(MEDIUM, "dev.silver")]
    assert "SELECT on SCHEMA dev.silver to 'ann'" in drift[0].message
    assert str(policy) in drift[0].message

    # a grant declared anew is applied; the revoked one stays revoked
    changed = _write(policy, [*GRANTS, {"securable": "SCHEMA silver", "to": "ann",
                                        "privileges": ["MODIFY"]}])
    _apply_in_a_new_process(root, changed)
    assert _held(root) == {("USE CATALOG", "CATALOG dev"), ("USE SCHEMA", "SCHEMA dev.silver"),
                           ("MODIFY", "SCHEMA dev.silver")}

    # granted back by an admin: no drift any more
    run_sql(Metastore(root, "dev"), "GRANT SELECT ON SCHEMA dev.silver TO `ann`")
    assert not [f for f in run_audit(Catalog(root, "dev"), None).findings
                if f.kind == "revoked_policy_grant"]


def test_a_grant_taken_out_of_the_policy_and_declared_again_is_applied(
        root: str, tmp_path: Path) -> None:
    policy = _write(tmp_path / "policy.yaml", GRANTS)
    apply_policy(policy, metastore=Metastore(root, "dev"))
    run_sql(Metastore(root, "dev"), "REVOKE SELECT ON SCHEMA dev.silver FROM `ann`")
    without = [GRANTS[0], {"securable": "SCHEMA silver", "to": "ann",
                           "privileges": ["USE SCHEMA"]}]
    apply_policy(_write(policy, without), metastore=Metastore(root, "dev"))
    assert ("SELECT", "SCHEMA dev.silver") not in _held(root)
    apply_policy(_write(policy, GRANTS), metastore=Metastore(root, "dev"))
    assert ("SELECT", "SCHEMA dev.silver") in _held(root)
