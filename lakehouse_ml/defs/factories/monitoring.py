"""Lakehouse Monitoring in Dagster (group `monitoring`): per monitor one multi-asset writing
its two metric tables (`monitoring/<schema>_<table>_profile_metrics` and `..._drift_metrics`),
their checks, and `<domain>_monitoring_refresh` with its daily schedule.

One multi-asset per monitor, not one asset per table: a single `refresh` computes both tables
from one read of the monitored table, and the drift rows are derived from the same windows as
the profile rows, so the two are always materialized together (`can_subset=False`)."""


from collections.abc import Iterator, Sequence

import dagster as dg

from lakehouse_ml.defs.factories import names
from lakehouse_ml.defs.factories.metadata import asset_key, markdown, table_metadata
from lakehouse_ml.defs.factories.monitoring_checks import (
    DRIFT_CHECK,
    FRESHNESS_CHECK,
    MAX_SHOWN,
    drift_summary,
    monitor_checks,
    strictest_freshness,
)
from lakehouse_ml.defs.resources import LakehouseResource, MlflowResource
from lakehouse_ml.monitoring.levels import ERROR, latest_drift
from lakehouse_ml.monitoring.pii import pii_columns
from lakehouse_ml.monitoring.spec import Monitor

DAILY = "0 6 * * *"
"""06:00 UTC: after `<domain>_daily_refresh` (02:00; the feature tables) and the models'
`<model>_batch_score` (04:00; the predictions). A late run upstream is harmless: refreshes are
incremental and idempotent, so the next one picks up what this one did not see."""


def _op_name(monitor: Monitor) -> str:
    return f"monitor_{monitor.metric_table_prefix.split('.', 1)[1]}"


def monitor_asset(monitor: Monitor) -> dg.AssetsDefinition:
    """Both metric tables of `monitor`, downstream of the monitored table's asset."""
    profile, drift = (asset_key(monitor.profile_metrics_table),
                      asset_key(monitor.drift_metrics_table))
    monitored = asset_key(monitor.table)
    kind = f"{monitor.profile_type} monitor of {monitor.table}"

    @dg.multi_asset(
        name=_op_name(monitor), group_name="monitoring", can_subset=False,
        # one op, two tables, one pool: its first table's (the drift metrics table has no other
        # writer, so this pool keeps two runs from writing it at once as well)
        pool=names.write_pool(monitor.profile_metrics_table),
        specs=[dg.AssetSpec(profile, deps=[monitored], kinds={"delta", "polars"},
                            description=f"Profile metrics per window, slice and column of the "
                            f"{kind} (Databricks Lakehouse Monitoring's columns)."),
               dg.AssetSpec(drift, deps=[monitored], kinds={"delta", "polars"},
                            description=f"Drift metrics (CONSECUTIVE and BASELINE) of the "
                            f"{kind}; an HTML drift report of the latest window per refresh.")],
        description=f"Refresh the {kind}: only the windows its changes since the last refresh "
        "touch (all of them the first time); idempotent.")
    def _monitor(context: dg.AssetExecutionContext, lakehouse: LakehouseResource,
                 mlflow: MlflowResource) -> Iterator[dg.MaterializeResult]:
        # imported when it runs (MLflow, scikit-learn, matplotlib), not when definitions load
        from lakehouse_ml.monitoring.refresh import refresh
        from lakehouse_ml.monitoring.report import MAX_PLOTS, publish_report

        catalog, client = lakehouse.catalog(), mlflow.client()
        result = refresh(catalog, monitor, client=client)
        for note in result.notes:
            context.log.info(f"{monitor.table}: {note}")
        for expression, why in result.failed_slices.items():
            context.log.warning(f"{monitor.table}: slicing expression {expression!r} left "
                                f"out: {why}")
        windows = [f"{s.isoformat()} .. {e.isoformat()}" for s, e in result.windows]
        common = {"monitored_table": monitor.table, "monitored_version": result.table_version,
                  "windows_computed": len(result.windows),
                  "windows": ", ".join(windows[:10]) + (" ..." if len(windows) > 10 else ""),
                  "notes": "; ".join(result.notes) or "none",
                  "failed_slices": "; ".join(f"{expression} ({why})" for expression, why
                                             in result.failed_slices.items()) or "none"}
        if not catalog.exists(monitor.profile_metrics_table):  # the monitored table is missing
            yield dg.MaterializeResult(asset_key=profile, metadata=common)
            yield dg.MaterializeResult(asset_key=drift, metadata=common)
            return
        yield dg.MaterializeResult(asset_key=profile, metadata=table_metadata(
            catalog, monitor.profile_metrics_table, **common, rows_written=result.profile_rows,
            skipped_columns=", ".join(f"{c} ({why})" for c, why in
                                      result.skipped_columns.items()) or "none"))
        found = latest_drift(catalog, monitor)
        report = {}
        if result.windows:
            published = publish_report(catalog, monitor, found, version=result.table_version,
                                       tracking_uri=mlflow.tracking_uri, client=client)
            for problem in published.problems:
                context.log.warning(f"drift report of {monitor.table}: {problem}")
            if published.report is not None:
                report["drift_report"] = dg.MetadataValue.path(str(published.report.path))
                report["plotted_columns"] = (", ".join(published.report.plotted) or "none")
                report["max_plots"] = MAX_PLOTS
            if published.run_id is not None:
                report["mlflow_run_id"] = published.run_id
        summary = drift_summary(found, pii_columns(catalog, monitor.table))
        yield dg.MaterializeResult(asset_key=drift, metadata=table_metadata(
            catalog, monitor.drift_metrics_table, **common, rows_written=result.drift_rows,
            latest_window=(f"{found.window[0].isoformat()} .. {found.window[1].isoformat()}"
                           if found.window else found.nothing_to_compare),
            drift_type=found.drift_type,
            error_pairs=int((found.levels["level"] == ERROR).sum()),
            warn_pairs=int((found.levels["level"] != ERROR).sum()),
            drifting=(markdown(summary, rows=min(summary.height, MAX_SHOWN)) if summary.height
                      else "none"),
            **report))

    return _monitor


def monitoring_definitions(domain: str, monitors: Sequence[Monitor]) -> dg.Definitions:
    """The monitors' assets and checks, and `<domain>_monitoring_refresh` (every monitor of
    the domain, its drift checks and its monitored tables' freshness checks) scheduled daily
    at DAILY. Nothing for no monitors.

    A schedule, not an automation condition: the monitored tables mix daily-partitioned
    feature tables with unpartitioned predictions, and an unpartitioned job after the
    partitioned daily refresh is what the domain's other jobs already are (the daily refresh
    cannot include it: one job has one partitions definition)."""
    if not monitors:
        return dg.Definitions()
    assets = [monitor_asset(m) for m in monitors]
    checks = monitor_checks(monitors)
    check_keys = [
        *(dg.AssetCheckKey(asset_key(m.drift_metrics_table), DRIFT_CHECK) for m in monitors),
        *(dg.AssetCheckKey(asset_key(m.table), FRESHNESS_CHECK)
          for m in strictest_freshness(monitors))]
    job = dg.define_asset_job(
        names.monitoring_refresh(domain),
        selection=dg.AssetSelection.assets(*assets) | dg.AssetSelection.checks(*check_keys),
        tags={names.DOMAIN_TAG: domain},
        description=f"Refresh every monitor of the {domain} domain (profile and drift metric "
        "tables, drift reports), then check drift levels and freshness.")
    schedule = dg.ScheduleDefinition(
        name=names.schedule(job.name), job=job, cron_schedule=DAILY, execution_timezone="UTC",
        description="06:00 UTC, after the daily refresh and batch scoring.")
    return dg.Definitions(assets=assets, asset_checks=checks, jobs=[job], schedules=[schedule])

