"""The champion's training set as a drift baseline compares only complete windows: a feature
whose look-back reached before its table's history is NULL in that row (`complete_windows`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.ml.registry import use_tracking
from lakehouse_ml.monitoring.baseline import baseline_frame, complete_windows
from lakehouse_ml.monitoring.spec import ChampionTrainingSet

from .test_baseline import crown, model, register

FIRST = datetime(2026, 3, 2, tzinfo=UTC)
"""The engagement table's first snapshot: its history starts the day before."""


def truncated(tmp_path: Path) -> tuple[Catalog, pl.DataFrame]:
    """A catalog whose engagement history starts the day before FIRST, and training-set rows
    matched to snapshots 5 to 90 days after it."""
    catalog = Catalog(str(tmp_path), "dev")
    snapshots = pl.DataFrame({"customer_id": [1, 1], "feature_ts": [FIRST, FIRST + timedelta(
        days=100)]}).with_columns(pl.col("feature_ts").dt.cast_time_unit("us"))
    catalog.create_table("gold.customer_engagement", snapshots.schema, TableInfo(owner="t"))
    catalog.overwrite("gold.customer_engagement", snapshots)
    at = [FIRST + timedelta(days=d) for d in (5, 6, 29, 30, 89, 90)]  # history from FIRST - 1d
    frame = pl.DataFrame({
        "engagement_snapshot_at": at, "events_7d": [1] * 6, "events_30d": [2] * 6,
        "events_90d": [3] * 6, "tenure_days": [4] * 6,
        "days_since_last_login": [5] * 6,  # another table (recency): not in the catalog
    }).with_columns(pl.col("engagement_snapshot_at").dt.cast_time_unit("us"))
    return catalog, frame


def test_values_of_windows_reaching_before_the_history_are_null(tmp_path: Path) -> None:
    catalog, frame = truncated(tmp_path)
    found = complete_windows(catalog, MODEL, frame)

    assert found["events_7d"].to_list() == [None, 1, 1, 1, 1, 1]
    assert found["events_30d"].to_list() == [None, None, 2, 2, 2, 2]
    assert found["events_90d"].to_list() == [None] * 4 + [3, 3]
    assert found.select("engagement_snapshot_at", "tenure_days", "days_since_last_login"
                        ).equals(frame.select("engagement_snapshot_at", "tenure_days",
                                              "days_since_last_login"))


def test_the_champions_training_set_as_baseline_has_its_truncated_windows_null(
        tmp_path: Path) -> None:
    catalog, frame = truncated(tmp_path / "lakehouse")
    catalog.create_table("churn.training_set", frame.schema, TableInfo(owner="t"))
    catalog.overwrite("churn.training_set", frame)
    client = use_tracking(f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}")
    client.create_registered_model(model(catalog))
    crown(client, catalog, register(client, catalog, {"dev.churn.training_set": 1}))

    found = baseline_frame(catalog, ChampionTrainingSet("churn_clf"), client=client)

    assert found is not None and found.frame.equals(complete_windows(catalog, MODEL, frame))
    assert found.frame["events_90d"].to_list() == [None] * 4 + [3, 3]
