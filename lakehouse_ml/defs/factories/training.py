"""The training-set asset (group `features`) and its blocking leakage check."""

import dagster as dg

from lakehouse_ml.defs.factories.metadata import asset_key, markdown, table_metadata
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.features import FeatureEngineeringClient, FeatureLookup
from lakehouse_ml.features.training_table import leakage, write_training_set
from lakehouse_ml.medallion.spec import TrainingSetSpec


def training_set_asset(spec: TrainingSetSpec) -> dg.AssetsDefinition:
    key = asset_key(spec.name)
    tables = sorted({s.table_name for s in spec.feature_lookups if isinstance(s, FeatureLookup)})

    @dg.asset(
        key=key, deps=[asset_key(spec.labels), *(asset_key(t) for t in tables)],
        group_name="features", kinds={"delta", "polars"}, owners=[spec.owner],
        description=spec.description + " Pins the Delta version of every table it reads.",
        check_specs=[dg.AssetCheckSpec(
            "no_label_leakage", asset=key, blocking=True,
            description="No joined feature snapshot is later than its label timestamp.",
        )],
    )
    def _training_set(lakehouse: LakehouseResource) -> dg.MaterializeResult:
        client = FeatureEngineeringClient(lakehouse.catalog())
        built = write_training_set(client, spec)
        report = leakage(built.frame, spec)
        positives = int(built.frame[spec.label].sum())
        return dg.MaterializeResult(
            metadata=table_metadata(
                client.catalog, spec.name, pinned_versions=built.versions,
                label_rows=built.frame.height, positive_labels=positives,
            ),
            check_results=[dg.AssetCheckResult(
                check_name="no_label_leakage",
                passed=bool(report["later_than_label"].sum() == 0),
                metadata={"later_than_label": int(report["later_than_label"].sum()),
                          "by_table": markdown(report, rows=report.height)},
            )],
        )

    return _training_set
