"""The daily governance audit of the whole lakehouse: every section's findings in one `Audit`.

`run_audit` reads the metastore (inventory, pii columns, grants), the MLflow registry
(champions), the audit log (denials, chain) and `monitoring.failed_runs`; what only the
orchestrator knows (asset check results, declared freshness) comes in `AuditInputs`. It never
raises on what it reads: a registry it cannot read is a finding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import polars as pl
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.governance import findings_catalog as fc
from lakehouse_ml.governance import findings_models as fm
from lakehouse_ml.governance import findings_ops as fo
from lakehouse_ml.governance.audit import audit_log
from lakehouse_ml.governance.findings import HIGH, Finding, ordered
from lakehouse_ml.governance.metastore import Metastore
from lakehouse_ml.ml.registry import TrackingUnavailable

WINDOW = timedelta(days=1)
"""How far back failed runs and denied attempts are counted."""


@dataclass(frozen=True)
class AuditInputs:
    """What the orchestrator knows: `checks` maps a full table name to the latest results of
    its asset checks; `freshness` the assets with a declared freshness; `now` the audit time
    (UTC)."""

    checks: Mapping[str, Sequence[fm.CheckStatus]] = field(default_factory=dict)
    freshness: Sequence[fo.AssetFreshness] = ()
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    window: timedelta = WINDOW


@dataclass(frozen=True)
class Audit:
    day: date
    audited_at: datetime
    findings: list[Finding]
    inventory: list[fc.InventoryRow]
    pii: list[fc.PiiColumn]
    grants: list[fc.GrantRow]
    champions: list[fm.Champion]
    failed_runs: pl.DataFrame
    denied: pl.DataFrame
    chain: str

    @property
    def empty(self) -> str:
        """Why there was nothing to audit ('' when there was): no table and no model."""
        return "" if self.inventory else (
            "nothing to audit: the metastore holds no table and no registered model")


def run_audit(catalog: Catalog, client: MlflowClient | None, inputs: AuditInputs | None = None
              ) -> Audit:
    """Audit the lakehouse `catalog` points at, as its principal (who must be able to read
    the audit log, `monitoring.failed_runs` and the alias records: the metastore admin);
    `client` None: there is no MLflow registry (so no registered model)."""
    inputs = inputs or AuditInputs()
    now, since = inputs.now, inputs.now - inputs.window
    audit_log(catalog.root, catalog.env).flush()  # records still buffered count too
    namespace = Metastore(catalog.root, catalog.env).namespace()
    findings: list[Finding] = []
    registry_read = True
    try:
        models = [] if client is None else fm.registered_models(client)
    except (MlflowException, TrackingUnavailable) as error:
        models, registry_read = [], False
        findings.append(Finding(HIGH, "model_registry_unreadable", client.tracking_uri,
                                f"the MLflow registry cannot be read: {error}"))
    inventory, found = fc.inventory(namespace, [entry for entry, _ in models], registry_read)
    pii, pii_found = fc.pii_columns(namespace, inventory)
    grants, grant_found = fc.grants(namespace.state)
    grant_found += fc.policy_drift(namespace.state) + fc.shared_schema_owners(namespace.state)
    champions = []
    for entry, version in models:
        if version is None or client is None:
            continue
        try:
            champions.append(fm.champion(catalog, client, entry.name, version, inputs.checks))
        except (MlflowException, TrackingUnavailable) as error:
            findings.append(Finding(HIGH, "model_registry_unreadable", entry.name,
                                    f"champion version {version} of {entry.name} cannot be "
                                    f"read from the MLflow registry: {error}"))
    runs, run_found = fo.failed_runs(catalog, since)
    denied, denied_found = fo.denied(catalog, since)
    chain, chain_found = fo.chain(catalog)
    findings += [*found, *pii_found, *grant_found,
                 *(f for c in champions for f in fm.champion_findings(catalog, c)),
                 *fo.stale(list(inputs.freshness), now), *run_found, *denied_found,
                 *chain_found]
    return Audit(now.date(), now, ordered(findings), inventory, pii, grants, champions, runs,
                 denied, chain)
