"""Feature-table assets (group `features`): daily snapshots upserted and published online,
with a warning check naming the snapshots late data left stale."""

import dagster as dg

from lakehouse_ml.defs.factories.medallion import SINGLE_RUN
from lakehouse_ml.defs.factories.metadata import asset_key, lineage, markdown, table_metadata
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.features.snapshots import DAY, SnapshotReport, refresh_feature_table
from lakehouse_ml.governance.lineage_columns import feature_columns
from lakehouse_ml.medallion.changes import earliest_touched_day
from lakehouse_ml.medallion.progress import mark_processed, pending
from lakehouse_ml.medallion.spec import Domain, FeatureTableSpec

STALE_CHECK = "late_data_redone"


def stale_snapshots_check(spec: FeatureTableSpec, report: SnapshotReport) -> dg.AssetCheckResult:
    """The `late_data_redone` result (WARN) of one refresh: fails naming the table, the
    snapshot days its late data changed but it did not redo (`report.stale_days`, older than
    `spec.max_lateness_days`) and how to realign them. No snapshot day recomputed passes,
    saying so: no batch was refreshed, so no late data arrived to leave a snapshot stale (a
    re-run with nothing new must add nothing, not a warning and its governance finding)."""
    stale = report.stale_days
    if not report.days:
        return dg.AssetCheckResult(
            check_name=STALE_CHECK, passed=True, severity=dg.AssetCheckSeverity.WARN,
            description="no snapshot day recomputed: no batch refreshed, so no late data "
                        "arrived to leave one stale", metadata={"stale_snapshot_days": 0})
    if not stale:
        return dg.AssetCheckResult(
            check_name=STALE_CHECK, passed=True, severity=dg.AssetCheckSeverity.WARN,
            description=f"no snapshot left stale: every one the refreshed batches change was "
                        f"redone ({report.days[0]} "
                        f"to {report.days[-1]}, {len(report.days)} day(s))",
            metadata={"stale_snapshot_days": 0, "days_redone": len(report.days)})
    span = f"{stale[0]} to {stale[-1]}"
    return dg.AssetCheckResult(
        check_name=STALE_CHECK, passed=False, severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"feature table {spec.table}: late data changed the snapshots of {span} "
            f"({len(stale)} day(s)), older than max_lateness_days={spec.max_lateness_days} "
            f"before the first day redone ({report.days[0]}): they were left stale, so the "
            "table differs from a backfill. Realign by rebuilding those days (materialize "
            f"the partitions {stale[0] - DAY} to {stale[-1] - DAY}, whose snapshots they are), "
            "or raise max_lateness_days in the table's FeatureTableSpec"),
        metadata={"stale_snapshot_days": len(stale), "stale_from": str(stale[0]),
                  "stale_to": str(stale[-1]), "max_lateness_days": spec.max_lateness_days,
                  "days_redone": len(report.days)},
    )


def feature_asset(
    domain: Domain, spec: FeatureTableSpec, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    column_lineage = lineage(feature_columns(spec))

    @dg.asset(
        key=asset_key(spec.table), deps=[asset_key(t) for t in spec.inputs],
        group_name="features", kinds={"delta", "polars"}, owners=[spec.owner],
        description=f"{spec.description} Feature table keyed by {', '.join(spec.entity_keys)} "
        f"and {spec.timestamp_key}; the snapshot at D 00:00 {spec.zone} sees only days "
        "before D. "
        "Published to the online store after each write.",
        partitions_def=partitions, backfill_policy=SINGLE_RUN, tags=dict(spec.tags),
        check_specs=[dg.AssetCheckSpec(
            STALE_CHECK, asset=asset_key(spec.table), description=(
                "Late data redo every snapshot they change: fails (warning) naming the "
                "snapshot days left stale, being older than max_lateness_days="
                f"{spec.max_lateness_days}; fails when no snapshot day was recomputed."))],
    )
    def _features(
        context: dg.AssetExecutionContext, lakehouse: LakehouseResource
    ) -> dg.MaterializeResult:
        client = FeatureEngineeringClient(lakehouse.catalog())
        todo = pending(client.catalog, domain, spec.table, spec.inputs, context.partition_keys)
        touched = earliest_touched_day(client.catalog, domain, todo.batches)
        report = refresh_feature_table(client, spec, todo.batches, touched)
        mark_processed(client.catalog, todo)
        return dg.MaterializeResult(metadata=table_metadata(
            client.catalog, spec.table, column_lineage=column_lineage,
            snapshots_written=report.rows_written, snapshot_days=len(report.days),
            batches_unchanged=len(set(context.partition_keys)) - len(todo.batches),
            online_keys_written=report.published.written,
            feature_statistics=markdown(report.statistics.table(), rows=len(spec.features)),
            stale_snapshot_days=[str(d) for d in report.stale_days],
        ), check_results=[stale_snapshots_check(spec, report)])

    return _features


def feature_assets(
    domain: Domain, partitions: dg.PartitionsDefinition
) -> list[dg.AssetsDefinition]:
    return [feature_asset(domain, spec, partitions) for spec in domain.feature_tables]
