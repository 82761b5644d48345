"""Labels that arrive wrong: duplicates, conflicts, values that are no label, labels of keys
never scored, a label column of the wrong type. The refresh labels what it can, says what it
ignored, and profiles the window all the same."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.monitoring.refresh import refresh
from lakehouse_ml.monitoring.schema import TABLE_LEVEL
from lakehouse_ml.monitoring.spec import InferenceLog, LabelJoin, Monitor

T0 = datetime(2026, 3, 1, tzinfo=UTC)
MONITOR = Monitor("churn.predictions", "inference_log", timestamp_col="as_of",
                  inference_log=InferenceLog(
                      "model_version", "prediction", "probability",
                      labels=LabelJoin("silver.churn_labels", ("customer_id",),
                                       "label_timestamp", "churned")))


def lakehouse(root: Path, labels: pl.DataFrame) -> Catalog:
    catalog = Catalog(str(root), "dev")
    scored = pl.DataFrame({"customer_id": list(range(6)), "as_of": [T0] * 6,
                           "probability": [0.1, 0.9, 0.2, 0.8, 0.3, 0.7],
                           "model_version": [1] * 6}).with_columns(
        prediction=pl.col("probability") >= 0.5)
    for table, frame in (("churn.predictions", scored), ("silver.churn_labels", labels)):
        catalog.create_table(table, frame.schema, TableInfo(owner="t"))
        catalog.append(table, frame)
    return catalog


def whole_table(catalog: Catalog) -> dict:
    return catalog.read(MONITOR.profile_metrics_table).filter(
        pl.col("column_name") == TABLE_LEVEL, pl.col("slice_key").is_null()).row(0, named=True)


def test_duplicate_conflicting_unknown_and_invalid_labels(tmp_path: Path) -> None:
    labels = pl.DataFrame({
        "customer_id": [0, 1, 1, 2, 2, 3, 4, 99],
        "label_timestamp": [T0] * 8,
        # 1: the same label twice; 2: two labels that disagree; 3: 7 is no label;
        # 99: a key never scored
        "churned": [0, 1, 1, 0, 1, 7, 0, 1],
    })
    catalog = lakehouse(tmp_path, labels)

    result = refresh(catalog, MONITOR)

    assert whole_table(catalog)["label_count"] == 3  # customers 0, 1 (once) and 4
    assert ("labels table silver.churn_labels: 1 rows of column 'churned' hold a value that "
            "is no label (not true/false/0/1): ignored") in result.notes
    assert ("labels table silver.churn_labels: 1 (keys, label_timestamp) pairs have "
            "conflicting labels: no label for them") in result.notes


def test_a_label_column_of_the_wrong_type_leaves_the_window_profiled(tmp_path: Path) -> None:
    labels = pl.DataFrame({"customer_id": [0, 1], "label_timestamp": [T0] * 2,
                           "churned": ["yes", "no"]})
    catalog = lakehouse(tmp_path, labels)

    result = refresh(catalog, MONITOR)

    assert [w[0] for w in result.windows] == [T0]
    note, = (n for n in result.notes if n.startswith("no realized quality: "))
    assert "labels table silver.churn_labels column 'churned' is String" in note
    row = whole_table(catalog)
    assert row["count"] == 6 and row["label_count"] == 0 and row["roc_auc"] is None
