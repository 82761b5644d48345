"""The peer: Evidently's `DataDriftPreset` on the benchmark's data, run by the Evidently venv's
interpreter (`bench/monitoring/venv.py`), never the project's: it imports only the standard
library, pandas, Evidently and `bench.common` (standard library only).

    <evidently-venv>/bin/python -m bench.monitoring.evidently_side DATA_DIR

Laps: `read` (both Parquet files into pandas), `compute` (`Dataset.from_pandas` with the
columns' declared kinds, `Report([DataDriftPreset()]).run(current, reference)` with every
default: for > 1,000 reference rows it picks the normed Wasserstein distance for numeric
columns with > 5 distinct values and the Jensen–Shannon distance for categorical ones, both
with threshold 0.1, drift when value >= threshold), `result` (`snapshot.dict()`). Emits each
column's method, value, threshold and decision.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

from bench.common import Stopwatch, emit

DISTANCES = ("Wasserstein distance (normed)", "Jensen-Shannon distance")
"""Evidently's methods for which drift means value >= threshold (the others are p-values)."""


def per_column(snapshot: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], int]:
    """Each column's ValueDrift (method, value, threshold, drift), and DriftedColumnsCount."""
    columns: dict[str, dict[str, Any]] = {}
    drifted = -1
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":DriftedColumnsCount"):
            drifted = int(metric["value"]["count"])
        elif config["type"].endswith(":ValueDrift"):
            method, value, threshold = config["method"], float(metric["value"]), \
                float(config["threshold"])
            drift = value >= threshold if method in DISTANCES else None
            columns[config["column"]] = {"method": method, "value": value,
                                         "threshold": threshold, "drift": drift}
    return columns, drifted


def main(directory: Path) -> None:
    meta = json.loads((directory / "columns.json").read_text())
    definition = DataDefinition(
        numerical_columns=[c["name"] for c in meta["columns"] if not c["categorical"]],
        categorical_columns=[c["name"] for c in meta["columns"] if c["categorical"]])
    watch = Stopwatch()
    with watch.lap("read"):
        reference = pd.read_parquet(directory / "reference.parquet")
        current = pd.read_parquet(directory / "current.parquet")
    with watch.lap("compute"):
        snapshot = Report([DataDriftPreset()]).run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition))
    with watch.lap("result"):
        columns, drifted = per_column(snapshot.dict())
    emit(watch.result(columns=columns, drifted_count=drifted,
                      in_memory_bytes=int(reference.memory_usage(deep=True).sum()
                                          + current.memory_usage(deep=True).sum())))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
