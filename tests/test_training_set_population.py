"""The training-set asset's metadata counts the label rows its population rule
(`TrainingSetSpec.population`) leaves out, beside the rows it keeps (real Delta tables,
Dagster's own `materialize`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.training import training_set_asset
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.features import FeatureEngineeringClient, FeatureLookup
from lakehouse_ml.medallion.spec import TrainingSetSpec

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SPEC = TrainingSetSpec(
    "gold.tiny_training_set", "A tiny training set.", "silver.tiny_labels", "churned", "t",
    (FeatureLookup("gold.tiny_features", "cid", "t"),), population=pl.col("tier") == "pro")


def test_rows_left_out_by_the_population_are_counted(settings: Settings,
                                                     catalog: Catalog) -> None:
    ts = pl.Datetime("us", "UTC")
    FeatureEngineeringClient(catalog).create_table(
        "gold.tiny_features", "cid", timeseries_column="ts", df=pl.DataFrame(
            {"cid": [1, 2, 3, 4], "ts": [T0] * 4, "tier": ["pro", "basic", "pro", None]},
            schema_overrides={"ts": ts}))
    labels = pl.DataFrame({"cid": [1, 2, 3, 4], "t": [T0 + timedelta(days=1)] * 4,
                           "churned": [True, False, False, True]}, schema_overrides={"t": ts})
    catalog.create_table(SPEC.labels, labels.schema, TableInfo(owner="team:ml"))
    catalog.append(SPEC.labels, labels)

    result = dg.materialize([training_set_asset(SPEC)],
                            resources={"lakehouse": LakehouseResource.from_settings(settings)})

    (materialization,) = result.asset_materializations_for_node("gold__tiny_training_set")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    # basic, and a NULL tier (not true), are out of the population
    assert (metadata["label_rows"], metadata["rows_outside_population"]) == (2, 2)
    assert catalog.read(SPEC.name)["cid"].sort().to_list() == [1, 3]
