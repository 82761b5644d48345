"""The training-set asset (group `features`) and its blocking leakage check."""

import dagster as dg

from lakehouse_ml.defs.factories.metadata import asset_key, lineage, markdown, table_metadata
from lakehouse_ml.defs.factories.names import write_pool
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.features import FeatureEngineeringClient, FeatureLookup
from lakehouse_ml.features.training_table import leakage, leakage_verdict, write_training_set
from lakehouse_ml.governance.lineage_columns import training_set_columns
from lakehouse_ml.medallion.spec import Domain, TrainingSetSpec
from lakehouse_ml.ml.windows import declared_feature_tables, truncated_rows


def training_set_asset(spec: TrainingSetSpec, domain: Domain | None = None
                       ) -> dg.AssetsDefinition:
    """`domain`: the one declaring `spec`, whose feature tables name the features a lookup
    without `feature_names` returns; with it, the materialization carries the set's column
    lineage (`lineage_columns.training_set_columns`)."""
    key = asset_key(spec.name)
    column_lineage = None if domain is None else lineage(training_set_columns(domain, spec))
    tables = sorted({s.table_name for s in spec.feature_lookups if isinstance(s, FeatureLookup)})

    @dg.asset(
        key=key, deps=[asset_key(spec.labels), *(asset_key(t) for t in tables)],
        group_name="features", kinds={"delta", "polars"}, owners=[spec.owner],
        description=spec.description + " Pins the Delta version of every table it reads.",
        pool=write_pool(spec.name),
        check_specs=[dg.AssetCheckSpec(
            "no_label_leakage", asset=key, blocking=True,
            description="No matched feature row (nor returned snapshot) is later than its "
                        "label time; fails when there is nothing to compare.",
        )],
    )
    def _training_set(lakehouse: LakehouseResource) -> dg.MaterializeResult:
        client = FeatureEngineeringClient(lakehouse.catalog())
        built = write_training_set(client, spec)
        report = leakage(built.frame, spec, built.matches)
        failure = leakage_verdict(report)
        positives = int(built.frame[spec.label].sum())
        missing = built.missing
        tables = None if domain is None else (*domain.feature_tables, *declared_feature_tables())
        truncated = truncated_rows(client.catalog, spec, built.frame, tables, built.versions)
        return dg.MaterializeResult(
            metadata=table_metadata(
                client.catalog, spec.name, column_lineage=column_lineage,
                pinned_versions=built.versions,
                label_rows=built.frame.height, positive_labels=positives,
                rows_outside_population=built.outside_population,
                rows_without_features=missing.in_every_lookup,
                rows_without_features_by_lookup=missing.by_lookup,
                rows_truncated_window=int(truncated.sum()),
            ),
            check_results=[dg.AssetCheckResult(
                check_name="no_label_leakage", passed=failure is None,
                description=failure,
                metadata={"later_than_label": int(report["later_than_label"].sum()),
                          "by_source": markdown(report, rows=report.height)},
            )],
        )

    return _training_set
