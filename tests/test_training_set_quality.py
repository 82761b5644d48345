"""Training-set quality (issue 11, item 8): how many rows found no feature row, in every lookup
at once and per lookup, in the `TrainingSet` API and the training-set asset's metadata; the
churn domain's first label cohort has features."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.training import training_set_asset
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.domains.churn.features import FEATURE_TABLES
from lakehouse_ml.domains.churn.training import TRAINING_SET
from lakehouse_ml.features import FeatureEngineeringClient, FeatureLookup
from tests.conftest import history_copy

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_missing_features_counts_rows_per_lookup_and_in_every_lookup(catalog: Catalog) -> None:
    fe = FeatureEngineeringClient(catalog)
    ts = pl.Datetime("us", "UTC")
    fe.create_table("gold.a", "cid", timeseries_column="ts", df=pl.DataFrame(
        {"cid": [1, 2], "ts": [T0, T0 + timedelta(days=2)], "a": [1.0, 2.0]},
        schema_overrides={"ts": ts}))
    fe.create_table("gold.b", "cid", df=pl.DataFrame({"cid": [1, 3], "b": [5, 6]}))
    rows = pl.DataFrame({"cid": [1, 2, 3, 4], "t": [T0 + timedelta(days=1)] * 4},
                        schema_overrides={"t": ts})
    lookups = [FeatureLookup("gold.a", "cid", "t", default_values={"a": 0.0}),
               FeatureLookup("gold.b", "cid")]
    training_set = fe.create_training_set(rows, lookups, label=None)

    missing = training_set.missing_features()

    # cid 2's only row is after its time (the default fills `a`, yet no row was found); cid 4
    # is in neither table; cid 3 only in gold.b: 2 and 4 found no row in any lookup
    assert missing.by_lookup == {"lookup 1 on dev.gold.a": 3, "lookup 2 on dev.gold.b": 2}
    assert missing.in_every_lookup == 2 and missing.rows == 4
    assert training_set.load_df()["a"].to_list() == [1.0, 0.0, 0.0, 0.0]


def test_every_churn_label_finds_a_feature_row(churn_history: Settings, tmp_path: Path) -> None:
    """Every label of the churn demo, its first cohort included (labels are known 30 days
    after they are observed), on a copy of the session's `churn_history`: the demo data
    materialized in one run, as `make run` leaves it before training."""
    churn = history_copy(churn_history, tmp_path)
    result = dg.materialize([training_set_asset(TRAINING_SET)],
                            resources={"lakehouse": LakehouseResource.from_settings(churn)})
    (materialization,) = result.asset_materializations_for_node("churn__training_set")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["label_rows"] > 0
    assert metadata["rows_without_features"] == 0
    assert set(metadata["rows_without_features_by_lookup"].values()) == {0}
    assert len(metadata["rows_without_features_by_lookup"]) == 4


def test_no_label_is_older_than_the_first_snapshot(churn_history: Settings, tmp_path: Path
                                                   ) -> None:
    """The generator observes labels from the first day a snapshot can serve on
    (`FIRST_LABEL_DAY`): the first snapshot is stamped the day after the first landed day. A
    label observed on that first day would find no feature row, and the population rule
    (`ACTIVE`, no events before it) would drop it without a word, so the test above cannot see
    it: the label times are compared with the first snapshot's stamp."""
    churn = history_copy(churn_history, tmp_path)
    catalog = Catalog(churn.root, churn.env)
    first_label = catalog.scan(TRAINING_SET.labels).select(
        pl.col(TRAINING_SET.time_column).min()).collect().item()
    first_snapshot = max(  # every table's first: a label needs a row in each
        catalog.scan(spec.table).select(pl.col(spec.timestamp_key).min()).collect().item()
        for spec in FEATURE_TABLES)
    assert first_label is not None and first_label >= first_snapshot
