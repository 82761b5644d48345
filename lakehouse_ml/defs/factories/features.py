"""Feature-table assets (group `features`): daily snapshots upserted and published online;
late data redo every snapshot they change, as a backfill computes it."""

from collections.abc import Sequence
from datetime import date

import dagster as dg

from lakehouse_ml.defs.factories.medallion import SINGLE_RUN, landed_days
from lakehouse_ml.defs.factories.metadata import (
    asset_key,
    lineage,
    markdown,
    per_partition,
    table_metadata,
)
from lakehouse_ml.defs.factories.names import write_pool
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.features.snapshots import DAY, refresh_feature_table, unbuilt
from lakehouse_ml.governance.lineage_columns import feature_columns
from lakehouse_ml.medallion.changes import earliest_touched_day
from lakehouse_ml.medallion.progress import (
    current_sources,
    feeding_sources,
    mark_processed,
    pending,
)
from lakehouse_ml.medallion.spec import Domain, FeatureTableSpec


def first_snapshot_day(partitions: dg.PartitionsDefinition) -> date | None:
    """The snapshot of the first partition day (that day + 1): the earliest a backfill of
    `partitions` computes, so late data never make a refresh redo or create one before it
    (`snapshot_days`). None when there is no partition."""
    first = partitions.get_first_partition_key()
    return None if first is None else date.fromisoformat(first) + DAY


def _due(lakehouse: LakehouseResource, client: FeatureEngineeringClient, domain: Domain,
         spec: FeatureTableSpec, partition_keys: Sequence[str], pending_batches: Sequence[str]
         ) -> list[str]:
    """The partition days whose snapshots a run of `partition_keys` builds: the batches with
    new data for the table, and the other days from the first to the last that landed (for any
    source of the domain) whose snapshot the table lacks (`unbuilt`): a day nothing landed on
    between two that did gets its snapshot, from the data before it, as in a backfill; days
    outside the landing get none. The landing is listed and the table read only when some day has
    no new data (not in a daily refresh of the day that landed)."""
    due = set(pending_batches)
    idle = [day for day in partition_keys if day not in due]
    if idle:
        landed = landed_days(lakehouse.landing, domain)
        due.update(unbuilt(client, spec, [day for day in idle if landed
                                          and landed[0] <= day <= landed[-1]]))
    return sorted(due)


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
        pool=write_pool(spec.table),
    )
    def _features(
        context: dg.AssetExecutionContext, lakehouse: LakehouseResource
    ) -> dg.MaterializeResult:
        client = FeatureEngineeringClient(lakehouse.catalog())
        todo = pending(client.catalog, domain, spec.table, spec.inputs, context.partition_keys)
        touched = earliest_touched_day(client.catalog, domain, todo.batches,
                                       feeding_sources(domain, spec.table),
                                       current_sources(domain, spec.table))
        report = refresh_feature_table(client, spec, _due(lakehouse, client, domain, spec,
                                                          context.partition_keys, todo.batches),
                                       touched,
                                       first_day=first_snapshot_day(partitions))
        mark_processed(client.catalog, todo)
        return dg.MaterializeResult(metadata=per_partition(context, table_metadata(
            client.catalog, spec.table, column_lineage=column_lineage,
            snapshots_written=report.rows_written, snapshot_days=len(report.days),
            batches_unchanged=len(set(context.partition_keys)) - len(todo.batches),
            online_keys_written=report.published.written,
            feature_statistics=markdown(report.statistics.table(), rows=len(spec.features)),
        )))

    return _features


def feature_assets(
    domain: Domain, partitions: dg.PartitionsDefinition
) -> list[dg.AssetsDefinition]:
    return [feature_asset(domain, spec, partitions) for spec in domain.feature_tables]
