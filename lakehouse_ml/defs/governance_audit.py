"""The governance audit (group `governance`): asset `governance/findings`, its blocking check
`no_critical_findings`, job `governance_audit` and its daily schedule. It audits the whole
lakehouse, every domain (engine: `lakehouse_ml.governance.findings_audit`); from Dagster it
adds the latest asset check results of every asset and the assets' declared freshness."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph
from dagster._core.storage.asset_check_execution_record import (
    COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES,
)

from lakehouse_ml.defs.factories import names
from lakehouse_ml.defs.factories.metadata import asset_key
from lakehouse_ml.defs.factories.monitoring_checks import FRESHNESS_CHECK
from lakehouse_ml.defs.resources import LakehouseResource, MlflowResource
from lakehouse_ml.governance.findings import (
    TABLE,
    counts,
    create_table,
    critical,
    write_findings,
)
from lakehouse_ml.governance.findings_ops import AssetFreshness

if TYPE_CHECKING:  # the audit's engine imports MLflow: imported by the step, not at load
    from mlflow import MlflowClient

    from lakehouse_ml.governance.findings_audit import Audit
    from lakehouse_ml.governance.findings_models import CheckStatus

GROUP = "governance"
CHECK = "no_critical_findings"
JOB = "governance_audit"
CRON = "0 7 * * *"
"""07:00 UTC: after the daily refresh (02:00), batch scoring (04:00) and monitoring (06:00)."""
KEY = asset_key(TABLE)
MAX_LISTED = 10
"""Critical findings named in the check's description (all are in its metadata count)."""


def _asset_graph() -> BaseAssetGraph:
    """The code location's whole asset graph (a run's own job holds only what it selected)."""
    from lakehouse_ml.definitions import defs

    return defs().resolve_asset_graph()


def _latest_checks(context: dg.AssetExecutionContext, graph: BaseAssetGraph, env: str
                   ) -> tuple[dict[str, list["CheckStatus"]], list[AssetFreshness]]:
    """Per table (full name) the latest completed evaluation of each of its asset's checks,
    and a stale entry per failed `freshness` check. A check planned by a run that never
    evaluated it (the asset failed, the run was interrupted) has no result of its own: its
    previous completed evaluation stands."""
    from lakehouse_ml.governance.findings_models import CheckStatus

    checks: dict[str, list[CheckStatus]] = {}
    stale: list[AssetFreshness] = []
    history = context.instance.event_log_storage.get_asset_check_execution_history
    for check_key in sorted(graph.asset_check_keys, key=lambda k: k.to_user_string()):
        if check_key.asset_key == KEY:
            continue
        records = history(check_key, limit=1,
                          status=set(COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES))
        evaluation = records[0].evaluation if records else None
        if evaluation is None:
            continue
        record = records[0]
        table = ".".join((env, *check_key.asset_key.path))
        status = CheckStatus(check_key.name, evaluation.passed, evaluation.severity.value,
                             datetime.fromtimestamp(record.create_timestamp, UTC),
                             evaluation.description or "")
        checks.setdefault(table, []).append(status)
        if check_key.name == FRESHNESS_CHECK and not evaluation.passed:
            stale.append(AssetFreshness(check_key.asset_key.to_user_string(), None, None,
                                        evaluation.description or "freshness check failed"))
    return checks, stale


def _declared_freshness(context: dg.AssetExecutionContext, graph: BaseAssetGraph
                        ) -> list[AssetFreshness]:
    """Every asset with a time-window freshness policy and its last materialization."""
    found = []
    for node in graph.asset_nodes:
        policy = node.freshness_policy_or_from_metadata
        window = getattr(policy, "fail_window", None)
        if window is None:
            continue
        event = context.instance.get_latest_materialization_event(node.key)
        found.append(AssetFreshness(node.key.to_user_string(), window.to_timedelta(),
                                    None if event is None else
                                    datetime.fromtimestamp(event.timestamp, UTC)))
    return found


def _registry(mlflow: MlflowResource) -> "MlflowClient | None":
    """The MLflow registry's client; None for an embedded store that was never created (no
    model was ever registered: the audit does not create one)."""
    uri = mlflow.tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return None
    return mlflow.client()


def check_result(audit: "Audit") -> dg.AssetCheckResult:
    """Fails (ERROR) on any critical finding, naming them; fails when there was nothing to
    audit, saying why: it never passes on an empty lakehouse."""
    worst = critical(audit.findings)
    if audit.empty:
        return dg.AssetCheckResult(check_name=CHECK, passed=False, description=audit.empty,
                                   metadata={"critical": 0})
    named = "; ".join(f"{f.kind} on {f.securable}: {f.message}" for f in worst[:MAX_LISTED])
    more = f" (and {len(worst) - MAX_LISTED} more)" if len(worst) > MAX_LISTED else ""
    return dg.AssetCheckResult(
        check_name=CHECK, passed=not worst, metadata={"critical": len(worst)},
        description=f"{len(worst)} critical finding(s): {named}{more}" if worst else
        f"no critical finding among {len(audit.findings)}")


@dg.asset(
    key=KEY, group_name=GROUP, kinds={"delta", "polars"}, owners=["team:data-eng"],
    pool=names.write_pool(TABLE),
    check_specs=[dg.AssetCheckSpec(CHECK, asset=KEY, blocking=True, description=(
        "Fails on any critical finding (naming each), and when there is nothing to audit."))],
    description="The daily governance audit of the whole lakehouse (every domain): inventory "
    "(owners, descriptions, tags), pii columns and masks, risky grants, each champion's "
    "lineage, gates, promotion and input quality, stale assets, failed runs, denied attempts "
    "and the audit chain; the day's findings replace that day's rows; the report is in the "
    "metadata (Markdown) and on disk (HTML).",
)
def governance_findings(context: dg.AssetExecutionContext, lakehouse: LakehouseResource,
                        mlflow: MlflowResource) -> Iterator[dg.MaterializeResult]:
    from lakehouse_ml.governance.findings_audit import AuditInputs, run_audit
    from lakehouse_ml.governance.report import markdown, write_report

    catalog = lakehouse.catalog(as_location=True)  # the whole lakehouse: as the metastore admin
    create_table(catalog)
    graph = _asset_graph()
    checks, failing = _latest_checks(context, graph, catalog.env)
    audit = run_audit(catalog, _registry(mlflow), AuditInputs(
        checks=checks, freshness=[*_declared_freshness(context, graph), *failing]))
    version = write_findings(catalog, audit.findings, audit.day, context.run_id,
                             audit.audited_at)
    page = write_report(catalog.root, catalog.env, audit)
    yield dg.MaterializeResult(
        metadata={"report": dg.MetadataValue.md(markdown(audit, str(page))),
                  "report_path": dg.MetadataValue.path(str(page)),
                  "audit_date": audit.day.isoformat(), "dagster/row_count": len(audit.findings),
                  "delta_version": version, "dagster/table_name": str(catalog.name(TABLE)),
                  **{f"findings_{s}": n for s, n in counts(audit.findings).items()}},
        check_results=[check_result(audit)])


@dg.definitions
def governance_audit() -> dg.Definitions:
    job = dg.define_asset_job(JOB, selection=dg.AssetSelection.assets(KEY),
                              description="The daily governance audit of the whole lakehouse.")
    return dg.Definitions(assets=[governance_findings], jobs=[job], schedules=[
        dg.ScheduleDefinition(name=names.schedule(JOB), cron_schedule=CRON, job=job,
                              execution_timezone="UTC")])
