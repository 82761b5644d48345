"""A candidate's holdout predictions (probability, label), logged with its training run, so that
monitoring can calibrate the champion's probabilities without reading the training set again
(whose version may since have been vacuumed)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import numpy as np
import polars as pl
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

HOLDOUT_PREDICTIONS = "holdout/predictions.parquet"
"""Run artifact: columns `probability` (Float64) and `label` (Boolean), one row per holdout
row."""
MAX_BYTES = 256 * 2**20
"""A larger artifact is not read (about 20 million rows)."""


def log_holdout_predictions(probability: np.ndarray, label: pl.Series) -> None:
    """Log `probability` (shape (n,)) and `label` (n values, boolean or 0/1) to the active
    run as `HOLDOUT_PREDICTIONS`."""
    frame = pl.DataFrame({"probability": pl.Series(probability, dtype=pl.Float64),
                          "label": label.cast(pl.Boolean)})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(HOLDOUT_PREDICTIONS).name
        frame.write_parquet(path)
        mlflow.log_artifact(str(path), str(Path(HOLDOUT_PREDICTIONS).parent))


def load_holdout_predictions(client: MlflowClient, run_id: str
                             ) -> tuple[np.ndarray, np.ndarray] | None:
    """(probability, label as 0/1) the run logged, or None when it logged none (runs from
    before they were logged). ValueError naming the run for an artifact over `MAX_BYTES`, not
    Parquet, or without the two columns."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = Path(client.download_artifacts(run_id, HOLDOUT_PREDICTIONS, folder))
        except (MlflowException, OSError):
            return None
        where = f"run {run_id} artifact {HOLDOUT_PREDICTIONS}"
        if path.stat().st_size > MAX_BYTES:
            raise ValueError(f"{where} is {path.stat().st_size} bytes, over {MAX_BYTES}")
        try:
            frame = pl.read_parquet(path)
        except pl.exceptions.PolarsError as error:
            raise ValueError(f"{where} is not a readable Parquet file: {error}") from error
    if frame.columns != ["probability", "label"]:
        raise ValueError(f"{where} has columns {frame.columns}, expected probability, label")
    return (frame["probability"].cast(pl.Float64).to_numpy(),
            frame["label"].cast(pl.Int8).to_numpy())
