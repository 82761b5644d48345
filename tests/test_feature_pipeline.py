"""Feature tables and the training set, built by Dagster from the generated churn data."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.features import feature_assets
from lakehouse_ml.defs.factories.medallion import daily_partitions, medallion_assets
from lakehouse_ml.defs.factories.training import training_set_asset
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.domains.churn import DOMAIN
from lakehouse_ml.domains.churn.generator import generate
from lakehouse_ml.domains.churn.training import AS_OF_COLUMNS, TRAINING_SET
from lakehouse_ml.features import FeatureEngineeringClient
from lakehouse_ml.features.training_table import build_training_set as build_frame
from lakehouse_ml.features.training_table import pinned_versions, rebuild_training_set
from tests.conftest import Backfill, day_keys

EVENT_DAY = {
    "gold.daily_activity": pl.col("activity_date"),
    "silver.customers": pl.col("signup_date"),  # only id and signup day are read from it
    "silver.events": pl.col("event_ts").dt.date(),
    "silver.tickets": pl.col("created_at").dt.date(),
    "bronze.customers": pl.col("updated_at").str.slice(0, 10).str.to_date(strict=False),
}


def build_training_set(settings: Settings) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [training_set_asset(TRAINING_SET)],
        resources={"lakehouse": LakehouseResource.from_settings(settings)},
    )


def test_snapshots_never_read_future_rows(backfill: Backfill) -> None:
    catalog = backfill.catalog
    day = date.fromisoformat(day_keys()[8])

    for spec in DOMAIN.feature_tables:
        full = {t: catalog.scan(t) for t in spec.inputs}
        past = {t: frame.filter(EVENT_DAY[t] < day) for t, frame in full.items()}
        seen_all = spec.build(full, [day]).collect().sort("customer_id")
        seen_past = spec.build(past, [day]).collect().sort("customer_id")
        assert seen_all.height > 0
        assert seen_all.equals(seen_past), spec.name
        stored = catalog.read(spec.table).filter(
            pl.col("feature_ts") == seen_all["feature_ts"][0]).drop("snapshot_at")
        assert stored.sort("customer_id").equals(seen_all), spec.name


def test_online_store_holds_the_latest_snapshot_per_customer(backfill: Backfill) -> None:
    catalog = backfill.catalog
    client = FeatureEngineeringClient(catalog)
    offline = catalog.read("gold.customer_engagement").filter(
        pl.col("feature_ts") == pl.col("feature_ts").max()).sort("customer_id")

    online = client.get_online_features("gold.customer_engagement", offline.select("customer_id"))

    assert online.select(offline.columns).equals(offline)


HISTORY_START, HISTORY_DAYS = date(2026, 2, 1), 110
ASSETS = [*medallion_assets(DOMAIN), *feature_assets(DOMAIN, daily_partitions(DOMAIN))]
READ = dg.AssetSelection.assets(*(dg.AssetKey(table.split(".")) for table in (
    TRAINING_SET.labels, *(spec.table for spec in DOMAIN.feature_tables)))).upstream()
"""The training set's inputs (the labels and the feature tables) and what they are built from:
every asset but orders' and gold.daily_revenue, which none of them reads."""


def materialize(settings: Settings, days: list[str]) -> dg.ExecuteInProcessResult:
    """`tests.conftest.materialize` of the assets `READ` selects."""
    tags = {ASSET_PARTITION_RANGE_START_TAG: days[0], ASSET_PARTITION_RANGE_END_TAG: days[-1]}
    return dg.materialize(ASSETS, selection=READ, tags=tags,
                          resources={"lakehouse": LakehouseResource.from_settings(settings)})


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """110 days of 500 customers, the training set's inputs (`READ`) materialized but for the
    last two days, plus the training set: enough labels (they are known 30 days late) for a
    model. Tests here read it; the last one adds the two remaining days."""
    base = tmp_path_factory.mktemp("history")
    settings = Settings(str(base / "lakehouse"), str(base / "landing"), "dev", "")
    generate(Path(settings.landing), customers=500, days=HISTORY_DAYS, start=HISTORY_START,
             seed=3, progress=False)
    materialize(settings, day_keys(HISTORY_START, HISTORY_DAYS)[:-2])
    return settings


def test_training_set_is_leak_free_and_pinned(history: Settings) -> None:
    catalog = Catalog(history.root, "dev")
    result = build_training_set(history)

    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "no_label_leakage" and check.passed
    stored = catalog.read("churn.training_set")
    # every label row, but those outside the population (TrainingSetSpec.population)
    every = build_frame(FeatureEngineeringClient(catalog),
                        replace(TRAINING_SET, population=None))[2]
    assert every.height == catalog.read("silver.churn_labels").height > stored.height > 0
    assert stored.equals(every.filter(TRAINING_SET.in_population(every)))
    for column in AS_OF_COLUMNS:
        matched = stored.filter(pl.col(column).is_not_null())
        assert matched.height > 0
        assert (matched[column] <= matched["label_timestamp"]).all()
        assert (matched[column] >= matched["label_timestamp"] - timedelta(days=3)).all()
    pinned = result.asset_materializations_for_node("churn__training_set")[0].metadata[
        "pinned_versions"].value
    assert pinned == pinned_versions(FeatureEngineeringClient(catalog), TRAINING_SET)
    assert pinned["dev.gold.customer_engagement"] == catalog.version("gold.customer_engagement")


def _validation_auc(frame: pl.DataFrame, cutoff: date) -> float:
    features = frame.select(pl.exclude("customer_id", "label_timestamp", "churned",
                                       *AS_OF_COLUMNS, "plan_tier", "country"))
    train = frame["label_timestamp"].dt.date() < cutoff
    model = HistGradientBoostingClassifier(max_iter=100, random_state=0)
    model.fit(features.filter(train).to_numpy(), frame.filter(train)["churned"].to_numpy())
    scores = model.predict_proba(features.filter(~train).to_numpy())[:, 1]
    return roc_auc_score(frame.filter(~train)["churned"].to_numpy(), scores)


def test_latest_value_join_inflates_auc_point_in_time_does_not(history: Settings) -> None:
    catalog = Catalog(history.root, "dev")
    pit = catalog.read("churn.training_set").filter(
        pl.col("engagement_snapshot_at").is_not_null())
    # the naive join: every label gets each customer's latest snapshot, whatever its date
    naive = pit.select("customer_id", "label_timestamp", "churned", *AS_OF_COLUMNS)
    for spec in DOMAIN.feature_tables:
        latest = catalog.read(spec.table).filter(
            pl.col("feature_ts") == pl.col("feature_ts").max().over("customer_id"))
        naive = naive.join(latest.drop("feature_ts", "snapshot_at"), on="customer_id",
                           how="left")
    naive = naive.with_columns(
        (pl.col("revenue_30d") / pl.col("purchases_30d")).fill_nan(None)
        .alias("revenue_per_purchase_30d")).select(pit.columns)
    cutoff = pit["label_timestamp"].dt.date().unique().sort()[-2]

    honest, leaky = _validation_auc(pit, cutoff), _validation_auc(naive, cutoff)

    assert honest > 0.7
    assert leaky > honest + 0.05


def test_training_set_rebuilds_bit_for_bit_after_new_data(history: Settings) -> None:
    catalog = Catalog(history.root, "dev")
    stored = catalog.read("churn.training_set")
    client = FeatureEngineeringClient(catalog)
    pinned = pinned_versions(client, TRAINING_SET)

    materialize(history, day_keys(HISTORY_START, HISTORY_DAYS)[-2:])

    assert catalog.version("gold.customer_engagement") > pinned["dev.gold.customer_engagement"]
    assert rebuild_training_set(client, TRAINING_SET).equals(stored)
    # new days change no row the training set matched (its labels are older), so a correction
    # of the rows it matched shows the rebuild reads the pinned versions, not the latest
    corrected = catalog.read("gold.customer_engagement").with_columns(
        pl.col("events_7d") + 1)
    catalog.overwrite("gold.customer_engagement", corrected)
    assert not build_frame(client, TRAINING_SET)[2].equals(stored)
    assert rebuild_training_set(client, TRAINING_SET).equals(stored)
