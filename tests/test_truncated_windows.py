"""Training leaves out rows whose feature windows are truncated (issue 12): a 90-day count for a
label time less than 90 days after the feature history starts counts fewer days. On a
hand-made feature table (history from H = first snapshot - 1 day) and labels at H + 89 days
(its 90-day window starts a day before H: dropped), H + 90 days (starts exactly at H: kept),
H + 100 and H + 110 days, through Dagster's `materialize` of the training-set asset and a real
MLflow training run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import numpy as np
import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.config import Settings
from lakehouse_ml.defs.factories.training import training_set_asset
from lakehouse_ml.defs.resources import LakehouseResource
from lakehouse_ml.features import FeatureEngineeringClient, FeatureLookup, snapshot_time
from lakehouse_ml.features.snapshots import AS_OF
from lakehouse_ml.medallion.spec import Domain, Feature, FeatureTableSpec, TrainingSetSpec
from lakehouse_ml.ml import windows
from lakehouse_ml.ml.candidate import train_candidate
from lakehouse_ml.ml.registry import use_tracking
from lakehouse_ml.ml.spec import ModelSpec
from lakehouse_ml.ml.train import train
from lakehouse_ml.ml.windows import truncated_rows

FIRST = datetime(2026, 3, 2, tzinfo=UTC)
"""The feature table's first snapshot."""
HISTORY = FIRST - timedelta(days=1)
"""Its history starts the day before (the first snapshot sees that day)."""
WINDOW = timedelta(days=90)
INSIDE, BOUNDARY = HISTORY + WINDOW - timedelta(days=1), HISTORY + WINDOW
LABEL_TIMES = (INSIDE, BOUNDARY, HISTORY + timedelta(days=100), HISTORY + timedelta(days=110))
PER_TIME = 40
UTC_US = pl.Datetime("us", "UTC")

TABLE = FeatureTableSpec(
    name="activity", description="Activity.", entity_keys=("cid",), timestamp_key="ts",
    inputs=(), build=lambda inputs, days: pl.LazyFrame(),
    features=(Feature("events_90d", "events in 90 days", (), WINDOW),
              Feature("events_7d", "events in 7 days", (), timedelta(days=7)),
              Feature("tenure_days", "days since signup", ())),
)
SET = TrainingSetSpec(
    name="ml.activity_training_set", description="Outcomes with activity.",
    labels="silver.outcomes", label="churned", time_column="label_ts",
    feature_lookups=(FeatureLookup("gold.activity", "cid", "label_ts",
                                   rename_outputs={AS_OF: f"activity_{AS_OF}"}),),
)
DOMAIN = Domain(name="shop", description="A shop.", start_date=date(2026, 3, 1), sources=(),
                feature_tables=(TABLE,), training_set=SET)
SPEC = ModelSpec(name="activity_clf", schema="ml", description="Churn from activity.",
                 training_set=SET, not_features=("cid",), params={"max_iter": 5},
                 holdout_fraction=0.25, min_slice_rows=1)


def naive(times: Sequence[datetime]) -> np.ndarray:
    """UTC instants as numpy datetimes (which hold no time zone)."""
    return np.array([t.replace(tzinfo=None) for t in times], dtype="datetime64[us]")


def build_lakehouse(catalog: Catalog, label_times: Sequence[datetime] = LABEL_TIMES) -> None:
    """A snapshot per customer at FIRST and at each label time; PER_TIME labels per time."""
    rng = np.random.default_rng(0)
    cids = np.arange(PER_TIME)
    stamps = [FIRST, *label_times]
    snapshots = pl.DataFrame({
        "cid": np.tile(cids, len(stamps)),
        "ts": np.repeat(naive(stamps), PER_TIME),
        "events_90d": rng.poisson(20, PER_TIME * len(stamps)),
        "events_7d": rng.poisson(2, PER_TIME * len(stamps)),
        "tenure_days": rng.uniform(0, 300, PER_TIME * len(stamps)),
    }).with_columns(pl.col("ts").cast(UTC_US), pl.col("ts").cast(UTC_US).alias(AS_OF))
    FeatureEngineeringClient(catalog).create_table("gold.activity", "cid",
                                                   timeseries_column="ts", df=snapshots)
    labels = pl.DataFrame({
        "cid": np.tile(cids, len(label_times)),
        "label_ts": np.repeat(naive(label_times), PER_TIME),
        "churned": rng.uniform(0, 1, PER_TIME * len(label_times)) > 0.5,
    }).with_columns(pl.col("label_ts").cast(UTC_US))
    catalog.create_table(SET.labels, labels.schema, TableInfo(owner="t"))
    catalog.append(SET.labels, labels)


def materialize(settings: Settings) -> dg.ExecuteInProcessResult:
    return dg.materialize([training_set_asset(SET, DOMAIN)],
                          resources={"lakehouse": LakehouseResource.from_settings(settings)})


def test_a_window_starting_at_the_history_start_is_complete_one_day_before_is_not(
    catalog: Catalog
) -> None:
    build_lakehouse(catalog)
    assert BOUNDARY - WINDOW == HISTORY == datetime(2026, 3, 1, tzinfo=UTC)
    frame = pl.DataFrame({f"activity_{AS_OF}": [INSIDE, BOUNDARY - timedelta(microseconds=1),
                                                BOUNDARY, None],
                          "events_90d": [1, 2, 3, None], "tenure_days": [1.0, 2.0, 3.0, None]},
                         schema_overrides={f"activity_{AS_OF}": UTC_US})
    found = truncated_rows(catalog, SET, frame, [TABLE])
    assert found.to_list() == [True, True, False, False]  # no snapshot: nothing truncated
    # only the 7-day window: complete from HISTORY + 7 days on
    assert truncated_rows(catalog, SET, frame.drop("events_90d"), [TABLE]).to_list() == [
        False] * 4


def test_the_training_set_counts_its_truncated_rows_and_keeps_them(
    settings: Settings, catalog: Catalog
) -> None:
    build_lakehouse(catalog)
    result = materialize(settings)
    (done,) = result.asset_materializations_for_node(
        dg.AssetKey(SET.name.split(".")).to_python_identifier())
    assert done.metadata["rows_truncated_window"].value == PER_TIME  # the INSIDE rows
    assert done.metadata["label_rows"].value == PER_TIME * len(LABEL_TIMES)


def test_training_leaves_out_the_truncated_rows_and_logs_how_many(
    settings: Settings, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the declared feature tables, as if a domain package declared DOMAIN
    monkeypatch.setattr(windows, "declared_feature_tables", lambda: [TABLE])
    client = use_tracking(f"sqlite:///{settings.root}/mlflow.db")
    build_lakehouse(catalog)
    materialize(settings)
    candidate = train_candidate(catalog, client, SPEC)
    trained = candidate.trained
    assert trained.train["label_ts"].min() == BOUNDARY  # INSIDE left out, the boundary kept
    assert trained.train.height == 2 * PER_TIME and trained.holdout.height == PER_TIME
    assert trained.truncated_rows == PER_TIME
    params = client.get_run(candidate.run_id).data.params
    assert params["rows_truncated_window"] == str(PER_TIME)
    assert params["keep_truncated_windows"] == "False"
    assert params["train_rows"] == str(2 * PER_TIME)


def test_keep_truncated_windows_trains_on_them(settings: Settings, catalog: Catalog) -> None:
    build_lakehouse(catalog)
    frame = catalog.read(SET.name) if materialize(settings).success else None
    assert frame is not None
    trained = train(replace(SPEC, keep_truncated_windows=True), frame,
                    truncated_rows(catalog, SET, frame, [TABLE]))
    assert trained.train["label_ts"].min() == INSIDE
    assert trained.train.height == 3 * PER_TIME and trained.truncated_rows == PER_TIME


def test_a_set_of_only_truncated_rows_is_a_clear_error(
    settings: Settings, catalog: Catalog
) -> None:
    build_lakehouse(catalog, [INSIDE - timedelta(days=14), INSIDE])
    materialize(settings)
    frame = catalog.read(SET.name)
    with pytest.raises(ValueError, match=f"after leaving out {2 * PER_TIME} labelled rows whose "
                       "feature windows start before .*keep_truncated_windows"):
        train(SPEC, frame, truncated_rows(catalog, SET, frame, [TABLE]))


def test_a_window_is_counted_in_the_days_of_its_tables_time_zone(catalog: Catalog) -> None:
    """New York: the history starts on local 03-02 (first snapshot 03-03 00:00 EST); the
    snapshot of 03-09 (00:00 EDT, 04:00 UTC: clocks went forward on 03-08) sees 7 whole local
    days from 03-02, though 7 x 24 hours before its stamp is 03-02 04:00 UTC, an hour before
    the history starts."""
    zone = "America/New_York"
    first = snapshot_time(date(2026, 3, 3), zone)
    FeatureEngineeringClient(catalog).create_table(
        "gold.activity", "cid", timeseries_column="ts",
        df=pl.DataFrame({"cid": [1], "ts": [first], "events_7d": [2]},
                        schema_overrides={"ts": UTC_US}))
    stamps = [snapshot_time(date(2026, 3, d), zone) for d in (8, 9)]
    frame = pl.DataFrame({f"activity_{AS_OF}": stamps, "events_7d": [1, 2]},
                         schema_overrides={f"activity_{AS_OF}": UTC_US})
    assert stamps[1] - timedelta(days=7) < first - timedelta(days=1)  # by the hour
    in_zone = replace(TABLE, time_zone=zone)
    assert truncated_rows(catalog, SET, frame, [in_zone]).to_list() == [True, False]
