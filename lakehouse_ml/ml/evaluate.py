"""Metrics, per-slice metrics and the plots a reviewer looks at before promoting a model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from sklearn import metrics
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline

from lakehouse_ml.ml.train import inputs


def calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: |observed rate - mean score| over equal-width score bins."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    error = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            error += members.mean() * abs(y[members].mean() - p[members].mean())
    return float(error)


def scores(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    predicted = (p >= threshold).astype(int)
    both = len(np.unique(y)) == 2
    return {
        "roc_auc": float(metrics.roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(metrics.average_precision_score(y, p)) if both else float("nan"),
        "f1": float(metrics.f1_score(y, predicted, zero_division=0)),
        "precision": float(metrics.precision_score(y, predicted, zero_division=0)),
        "recall": float(metrics.recall_score(y, predicted, zero_division=0)),
        "log_loss": float(metrics.log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "calibration_error": calibration_error(y, p),
    }


def slice_scores(
    frame: pl.DataFrame, y: np.ndarray, p: np.ndarray, slices: tuple[str, ...], min_rows: int
) -> pl.DataFrame:
    """ROC AUC per value of each slice column, for slices big enough to mean something."""
    rows = []
    for column in slices:
        values = frame[column].fill_null("(missing)").to_numpy()
        for value in np.unique(values):
            members = values == value
            if members.sum() < min_rows or len(np.unique(y[members])) < 2:
                continue
            rows.append({"slice": column, "value": str(value), "rows": int(members.sum()),
                         "positive_rate": float(y[members].mean()),
                         "roc_auc": float(metrics.roc_auc_score(y[members], p[members]))})
    return pl.DataFrame(rows, schema={"slice": pl.String, "value": pl.String, "rows": pl.Int64,
                                      "positive_rate": pl.Float64, "roc_auc": pl.Float64})


@dataclass(frozen=True)
class Evaluation:
    metrics: dict[str, float]
    slices: pl.DataFrame
    probabilities: np.ndarray


def evaluate(
    model: Pipeline, features: list[str], holdout: pl.DataFrame, label: str,
    slices: tuple[str, ...], min_slice_rows: int,
) -> Evaluation:
    y = holdout[label].cast(pl.Int8).to_numpy()
    p = model.predict_proba(inputs(holdout, features))[:, 1]
    return Evaluation(scores(y, p), slice_scores(holdout, y, p, slices, min_slice_rows), p)


def plots(
    model: Pipeline, features: list[str], holdout: pl.DataFrame, label: str,
    probabilities: np.ndarray, folder: Path,
) -> list[Path]:
    """Feature importance, ROC and PR curves, confusion matrix, as PNG files in `folder`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y = holdout[label].cast(pl.Int8).to_numpy()
    sample = holdout.sample(min(holdout.height, 1000), seed=0)
    importance = permutation_importance(
        model, inputs(sample, features), sample[label].cast(pl.Int8).to_numpy(),
        scoring="roc_auc", n_repeats=2, random_state=0,
    )
    order = np.argsort(importance.importances_mean)[-20:]
    figures = {}
    names = [features[i] for i in order]
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.barh(names, importance.importances_mean[order])
    ax.set_title("Permutation importance (ROC AUC drop, holdout)")
    # room for the longest name, ~0.07 inch a character at 10 pt (fixed margins: tight_layout
    # would lay out every text of the figure once more before it is drawn)
    fig.subplots_adjust(left=min(0.5, 0.05 + 0.0095 * max(map(len, names), default=0)))
    figures["feature_importance.png"] = fig
    fig, ax = plt.subplots(figsize=(5, 5))
    metrics.RocCurveDisplay.from_predictions(y, probabilities, ax=ax)
    figures["roc_curve.png"] = fig
    fig, ax = plt.subplots(figsize=(5, 5))
    metrics.PrecisionRecallDisplay.from_predictions(y, probabilities, ax=ax)
    figures["pr_curve.png"] = fig
    fig, ax = plt.subplots(figsize=(5, 5))
    metrics.ConfusionMatrixDisplay.from_predictions(y, (probabilities >= 0.5).astype(int), ax=ax)
    figures["confusion_matrix.png"] = fig
    paths = []
    for name, figure in figures.items():
        figure.savefig(folder / name, dpi=90)
        plt.close(figure)
        paths.append(folder / name)
    return paths
