"""The monitors and retraining policies domains declare: churn's, how they are found, what a
malformed declaration says, and churn's predictions monitor labelling scores on real tables."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

import lakehouse_ml.domains
import lakehouse_ml.domains.churn as churn
from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.domains import (
    DomainError,
    declared_monitors,
    declared_retraining,
    monitoring_declarations,
)
from lakehouse_ml.ml.registry import use_tracking
from lakehouse_ml.monitoring.refresh import refresh
from lakehouse_ml.monitoring.schema import TABLE_LEVEL
from lakehouse_ml.monitoring.spec import ChampionTrainingSet, Monitor, RetrainingPolicy
from tests.user_domains import PACKAGES, declare_user_domains

CHURN = str(Path(lakehouse_ml.domains.__path__[0]) / "churn")


def test_churn_monitors_its_feature_tables_predictions_and_requests() -> None:
    monitors = {m.table: m for m in declared_monitors("churn")}
    assert list(monitors) == ["gold.customer_engagement", "gold.customer_recency",
                              "gold.customer_support", "gold.customer_profile",
                              "churn.predictions", "churn.inference_log"]
    for table in list(monitors)[:4]:
        feature = monitors[table]
        assert (feature.profile_type, feature.timestamp_col) == ("time_series", "feature_ts")
        assert feature.baseline is None, "snapshots hold churned customers: CONSECUTIVE only"
    assert monitors["gold.customer_profile"].slicing_exprs == ("plan_tier", "country")
    assert monitors["gold.customer_engagement"].slicing_exprs == ()
    scores = monitors["churn.predictions"]
    assert scores.timestamp_col == "as_of" and scores.inference_log is not None
    assert scores.baseline == ChampionTrainingSet("churn_clf"), "input drift: on the scores"
    assert scores.inference_log.labels is not None
    assert scores.inference_log.labels.table == "silver.churn_labels"
    requests = monitors["churn.inference_log"]
    assert (requests.timestamp_col, requests.columns) == ("requested_at",
                                                          ("latency_ms", "status_code", "rows"))
    assert [p.model for p in declared_retraining()] == ["churn_clf"]
    assert declared_monitors("nobody") == [] and declared_retraining("nobody") == []


@pytest.mark.parametrize(("monitors", "retraining", "message"), [
    ((Monitor("gold.unknown", "snapshot"),), (),
     "monitor of gold.unknown: domain 'churn' declares no such table"),
    (("gold.customer_profile",), (), "MONITORS holds a str, not a Monitor"),
    ((), (RetrainingPolicy("fleet_clf"),),
     "RETRAINING names model 'fleet_clf', which domain 'churn' does not declare"),
    ((Monitor("gold.customer_profile", "snapshot"),
      Monitor("gold.customer_profile", "time_series", timestamp_col="feature_ts")), (),
     "monitor of gold.customer_profile writes monitoring.gold_customer_profile_profile_metrics"
     ", which the monitor of gold.customer_profile"),
])
def test_a_malformed_declaration_names_the_package(
        monkeypatch: pytest.MonkeyPatch, monitors: tuple, retraining: tuple,
        message: str) -> None:
    monkeypatch.setattr(churn, "MONITORS", monitors)
    monkeypatch.setattr(churn, "RETRAINING", retraining)
    with pytest.raises(DomainError, match=re.escape(f"{CHURN}: {message}")):
        monitoring_declarations()


def test_churn_scores_are_labelled_by_the_label_at_their_as_of(tmp_path: Path) -> None:
    catalog = Catalog(str(tmp_path / "lakehouse"), "dev")
    client = use_tracking(f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}")  # no champion
    t0 = datetime(2026, 3, 15, tzinfo=UTC)
    scores = pl.DataFrame({
        "customer_id": [1, 2, 3, 1, 2, 3],
        "as_of": [t0] * 3 + [t0 + timedelta(days=1)] * 3,
        "probability": [0.9, 0.2, 0.6, 0.8, 0.3, 0.4],
        "prediction": [True, False, True, True, False, False],
        "model_version": [4] * 6,
        "scored_at": [t0] * 6,
    })
    labels = pl.DataFrame({"customer_id": [1, 2, 3], "label_timestamp": [t0] * 3,
                           "churned": [True, False, False]})
    for name, frame in (("churn.predictions", scores), ("silver.churn_labels", labels)):
        catalog.create_table(name, frame.schema, TableInfo(owner="t"))
        catalog.append(name, frame)
    monitor = next(m for m in churn.MONITORS if m.table == "churn.predictions")
    result = refresh(catalog, monitor, client=client)
    assert len(result.windows) == 2
    table = (catalog.read(monitor.profile_metrics_table)
             .filter(pl.col("column_name") == TABLE_LEVEL).sort("window"))
    # the labels of t0 label the scores as of t0 only, not those of the day after
    assert table["label_count"].to_list() == [3, 0]
    first = table.row(0, named=True)
    assert (first["precision"], first["recall"], first["roc_auc"]) == (0.5, 1.0, 1.0)
    assert set(catalog.read(monitor.profile_metrics_table)["column_name"]) == {
        TABLE_LEVEL, "probability", "prediction"}


def test_monitors_of_two_domains_cannot_write_the_same_metric_tables(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """churn's `churn.inference_log` and a `churn_inference.log` would both write
    `monitoring.churn_inference_log_*`."""
    fleet = declare_user_domains(monkeypatch)
    (model,) = fleet.MODELS
    monkeypatch.setattr(fleet, "MODELS", (replace(model, schema="churn_inference"),))
    monkeypatch.setattr(fleet, "MONITORS", (Monitor("churn_inference.log", "snapshot"),),
                        raising=False)
    with pytest.raises(DomainError, match=re.escape(
            f"{PACKAGES / 'fleet'}: monitor of churn_inference.log writes "
            "monitoring.churn_inference_log_profile_metrics, which the monitor of "
            f"churn.inference_log ({CHURN}) already writes")):
        declared_monitors()
    monkeypatch.setattr(fleet, "MONITORS", (Monitor("churn_inference.other", "snapshot"),))
    assert [m.table for m in declared_monitors("fleet")] == ["churn_inference.other"]
