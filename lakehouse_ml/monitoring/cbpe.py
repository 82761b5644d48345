"""Model quality before labels: confidence-based performance estimation (CBPE), as published by
NannyML, for the ROC AUC of a binary classifier.

Calibration: an isotonic regression (scikit-learn's `IsotonicRegression`, increasing, clipped
to [0, 1] and to the fitted score range) maps the model's probability s to c(s) ≈ P(y = 1 | s),
fitted on the champion's holdout (probability, label) — data the model was not trained on.

Estimate on a window of n scored rows (no labels): sort the rows by s, descending; at each
distinct score t the expected confusion counts are

    E[TP(t)] = Σ_{i: s_i ≥ t} c_i          E[FP(t)] = Σ_{i: s_i ≥ t} (1 − c_i)
    E[P]     = Σ_i c_i                      E[N]     = Σ_i (1 − c_i)

so TPR(t) = E[TP(t)] / E[P] and FPR(t) = E[FP(t)] / E[N]; the estimated ROC AUC is the
trapezoidal area under the curve (FPR(t), TPR(t)) from (0, 0) to (1, 1). Equivalently: the
ROC AUC of the window's scores where each row counts as a positive of weight c_i and a negative
of weight 1 − c_i (ties count one half). Taking every row as a threshold, as NannyML does,
gives the same area: rows with equal scores have equal c, so their points lie on one segment.

Source: NannyML, "How it works: Performance estimation — Confidence-based Performance
Estimation (CBPE)" (docs/how_it_works/performance_estimation.rst) and `estimate_roc_auc` in
nannyml/performance_estimation/confidence_based/metrics.py (cumulative sums of the calibrated
probabilities over the rows sorted by the uncalibrated ones). Assumptions, as NannyML states
them: the calibrated probabilities stay right in the window, i.e. P(y | x) does not change
(covariate shift only, no concept drift) and the model's score carries what it needs of x;
under concept drift the estimate does not move and only the realized metric shows it.
"""

from __future__ import annotations

import logging
from datetime import datetime

import numpy as np
import polars as pl
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import auc, roc_auc_score

from lakehouse_ml.catalog import Catalog
from lakehouse_ml.ml.holdout import load_holdout_predictions
from lakehouse_ml.ml.packaging import load_packaged
from lakehouse_ml.ml.registry import model_uri, tracking_client
from lakehouse_ml.ml.spec import ModelSpec
from lakehouse_ml.ml.train import inputs, labelled_split
from lakehouse_ml.monitoring.baseline import (
    champion_version,
    declared_model,
    pinned_training_set,
)

log = logging.getLogger(__name__)


class CBPE:
    """An isotonic calibration of one model's probabilities, fitted on its holdout; estimates
    the ROC AUC of windows without labels (see the module's docstring for the formula)."""

    def __init__(self, calibrator: IsotonicRegression, holdout_roc_auc: float,
                 holdout_rows: int) -> None:
        self.calibrator = calibrator
        self.holdout_roc_auc = holdout_roc_auc
        """The realized ROC AUC on the holdout the calibration was fitted on."""
        self.holdout_rows = holdout_rows

    @classmethod
    def fit(cls, probability: np.ndarray, label: np.ndarray) -> CBPE:
        """Fit on a holdout: `probability` (floats, shape (n,)) and `label` (0/1 or booleans,
        shape (n,)). Rows with a non-finite probability are left out. ValueError when the
        shapes differ or the rest does not hold both classes (no calibration can be learnt)."""
        p = np.asarray(probability, dtype=float)
        y = np.asarray(label).astype(int)
        if p.shape != y.shape or p.ndim != 1:
            raise ValueError(f"CBPE.fit: probability {p.shape} and label {y.shape} must be "
                             "two arrays of the same length")
        finite = np.isfinite(p)
        p, y = p[finite], y[finite]
        if len(np.unique(y)) < 2:
            raise ValueError(f"CBPE.fit: the holdout ({p.size} rows with a probability) must "
                             "hold both classes to calibrate on")
        calibrator = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True,
                                        out_of_bounds="clip").fit(p, y)
        return cls(calibrator, float(roc_auc_score(y, p)), int(p.size))

    def calibrated(self, probability: np.ndarray) -> np.ndarray:
        """c(s): the calibrated probabilities, same shape."""
        return self.calibrator.predict(np.asarray(probability, dtype=float))

    def estimate_roc_auc(self, probability: np.ndarray) -> float | None:
        """The estimated ROC AUC of a window from the model's probabilities alone (shape (n,);
        non-finite values left out). None when nothing is left, or when the calibrated
        probabilities expect no positive or no negative (all c_i = 0, or all 1)."""
        s = np.asarray(probability, dtype=float)
        s = s[np.isfinite(s)]
        if s.size == 0:
            return None
        c = self.calibrated(np.sort(s)[::-1])  # by score, descending
        expected_positives, expected_negatives = c.sum(), (1.0 - c).sum()
        if expected_positives <= 0.0 or expected_negatives <= 0.0:
            return None
        tp, fp = np.r_[0.0, np.cumsum(c)], np.r_[0.0, np.cumsum(1.0 - c)]
        return float(auc(fp / expected_negatives, tp / expected_positives))


def _holdout(logged: str) -> float | datetime:
    """The `holdout` param a training run logged (`str(spec.holdout)`): a share or an instant."""
    try:
        return float(logged)
    except ValueError:
        return datetime.fromisoformat(logged)


def champion_estimator(catalog: Catalog, model: str, *,
                       client: MlflowClient | None = None) -> CBPE | None:
    """The CBPE of `model`'s (its `ModelSpec.name`) champion, or None when it has no champion.

    Fitted on the holdout predictions its training run logged (`ml.holdout`); for a version
    trained before they were logged, on its holdout recomputed exactly as training made it:
    the training set at the Delta version the champion's `data_versions` tag pins, its
    labelled rows split by time at the `holdout` its training run logged (`labelled_split`),
    scored by the packaged (sha256-verified) champion. None, with a warning naming the
    version and why, when the holdout holds a single class, the logged predictions are
    malformed, or, recomputing, that table version can no longer be read (VACUUM removed its
    files, or its log entry expired) or the declared lookups changed since. Raises ValueError
    for an undeclared model, `TrackingUnavailable` when MLflow cannot be reached, and
    `ModelArtifactError` for a changed or untrusted artifact. `client`: default,
    `tracking_client()`."""
    spec = declared_model(model)
    client = client or tracking_client()
    found = champion_version(catalog, spec, client)
    if found is None:
        return None
    try:
        logged = load_holdout_predictions(client, found.run_id) if found.run_id else None
        holdout = logged or _recomputed_holdout(catalog, client, spec, found)
        return CBPE.fit(*holdout)  # a single-class holdout: ValueError
    except ValueError as error:
        log.warning("%s version %s: no label-free estimate: %s", found.name, found.version,
                    error)
        return None


def _recomputed_holdout(catalog: Catalog, client: MlflowClient, spec: ModelSpec,
                        found: ModelVersion) -> tuple[np.ndarray, np.ndarray]:
    """(probability, label) of the registered version `found` on its holdout, recomputed."""
    frame = pinned_training_set(catalog, spec, found).frame  # MonitorError: a ValueError
    params = client.get_run(found.run_id).data.params if found.run_id else {}
    _, holdout = labelled_split(spec, frame, _holdout(params.get("holdout", str(spec.holdout))))
    packaged = load_packaged(model_uri(found.name, int(found.version)))
    probability = packaged.pipeline.predict_proba(inputs(holdout, packaged.features))[:, 1]
    return probability, holdout[spec.training_set.label].cast(pl.Int8).to_numpy()
