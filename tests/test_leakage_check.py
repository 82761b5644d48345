"""`no_label_leakage` compares the timestamp of the feature row every lookup matched with the
label time, whatever the feature table's columns, and fails (saying why) when it has nothing to
compare (issue 11, item 5). Run through Dagster's own `materialize` of the training-set asset on
feature tables made with `create_table` (no `*_snapshot_at` column)."""

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
LABELS = "silver.outcomes"


def spec(lookup: FeatureLookup) -> TrainingSetSpec:
    return TrainingSetSpec(name="ml.training_set", description="Outcomes with features.",
                           labels=LABELS, label="churned", time_column="label_timestamp",
                           feature_lookups=(lookup,))


def us(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Datetime).dt.cast_time_unit("us"))


def land_labels(catalog: Catalog, cids: list[int]) -> None:
    labels = us(pl.DataFrame({"cid": cids, "label_timestamp": [T0] * len(cids),
                              "churned": [i % 2 == 0 for i in cids]},
                             schema={"cid": pl.Int64, "label_timestamp": pl.Datetime("us", "UTC"),
                                     "churned": pl.Boolean}))
    catalog.create_table(LABELS, labels.schema, TableInfo(owner="t"))
    catalog.append(LABELS, labels)


def features(catalog: Catalog, times: list[timedelta]) -> None:
    """cids 1-3 with one feature row each, at T0 + the given offset (a plain feature table)."""
    frame = us(pl.DataFrame({"cid": [1, 2, 3], "ts": [T0 + t for t in times],
                             "spend": [1.0, 2.0, 3.0]}))
    FeatureEngineeringClient(catalog).create_table("gold.f", "cid", timeseries_column="ts",
                                                   df=frame)


def materialize(settings: Settings, lookup: FeatureLookup) -> dg.ExecuteInProcessResult:
    return dg.materialize([training_set_asset(spec(lookup))], raise_on_error=False,
                          resources={"lakehouse": LakehouseResource.from_settings(settings)})


def check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == "no_label_leakage"
    return evaluation


LATEST = FeatureLookup("gold.f", "cid")  # no timestamp key: the latest row, whenever it is
POINT_IN_TIME = FeatureLookup("gold.f", "cid", "label_timestamp")


def test_a_feature_row_two_hours_after_its_label_fails_the_check(
    settings: Settings, catalog: Catalog
) -> None:
    features(catalog, [timedelta(0), timedelta(hours=-1), timedelta(hours=2)])
    land_labels(catalog, [1, 2, 3])
    evaluation = check(materialize(settings, LATEST))
    assert not evaluation.passed
    assert evaluation.metadata["later_than_label"].value == 1
    assert "lookup 1 on" in (evaluation.description or "")
    assert "gold.f (1 rows)" in (evaluation.description or "")


def test_the_same_table_joined_point_in_time_passes(settings: Settings, catalog: Catalog) -> None:
    features(catalog, [timedelta(0), timedelta(hours=-1), timedelta(hours=2)])
    land_labels(catalog, [1, 2, 3])
    result = materialize(settings, POINT_IN_TIME)
    evaluation = check(result)
    assert evaluation.passed, evaluation.description
    assert evaluation.metadata["later_than_label"].value == 0
    metadata = result.asset_materializations_for_node("ml__training_set")[0].metadata
    assert metadata["rows_without_features"].value == 1  # cid 3 has only a future row
    assert list(metadata["rows_without_features_by_lookup"].value.values()) == [1]


def test_an_empty_training_set_fails_and_says_why(settings: Settings, catalog: Catalog) -> None:
    features(catalog, [timedelta(0)] * 3)
    land_labels(catalog, [])
    evaluation = check(materialize(settings, POINT_IN_TIME))
    assert not evaluation.passed
    assert "no rows" in (evaluation.description or "")


def test_rows_that_match_no_feature_row_leave_nothing_to_compare(
    settings: Settings, catalog: Catalog
) -> None:
    features(catalog, [timedelta(0)] * 3)
    land_labels(catalog, [7, 8])
    evaluation = check(materialize(settings, POINT_IN_TIME))
    assert not evaluation.passed
    assert "no row matched any feature row" in (evaluation.description or "")


def test_a_table_without_timeseries_column_cannot_be_checked(
    settings: Settings, catalog: Catalog
) -> None:
    FeatureEngineeringClient(catalog).create_table(
        "gold.f", "cid", df=pl.DataFrame({"cid": [1, 2], "spend": [1.0, 2.0]}))
    land_labels(catalog, [1, 2])
    evaluation = check(materialize(settings, LATEST))
    assert not evaluation.passed
    assert "has no timeseries column" in (evaluation.description or "")
