"""The label-free ROC AUC estimate (NannyML's CBPE) against the realized ROC AUC on generated
data with drift, against an independent computation of its formula, and the champion's
estimator rebuilt from a model registered in a real MLflow store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import polars as pl
import pytest
from mlflow import MlflowClient
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.domains.churn.model import MODEL
from lakehouse_ml.domains.churn.training import LABEL_TIME
from lakehouse_ml.ml.candidate import Candidate, train_candidate
from lakehouse_ml.ml.holdout import HOLDOUT_PREDICTIONS, load_holdout_predictions
from lakehouse_ml.ml.registry import CHAMPION, use_tracking
from lakehouse_ml.monitoring.cbpe import CBPE, champion_estimator
from lakehouse_ml.monitoring.refresh import refresh
from lakehouse_ml.monitoring.schema import TABLE_LEVEL
from lakehouse_ml.monitoring.spec import InferenceLog, LabelJoin, Monitor

TOLERANCE = 0.03
"""|estimated − realized ROC AUC| in every window: 10,000 rows per window, a 10,000-row holdout,
a model trained on 20,000 rows. Measured over seeds 0-19 (largest gap of a run's windows): at
most 0.020 (mean 0.008) under covariate shift, 0.023 (mean 0.011) under the segment mix; much
of it is the realized AUC's own sampling error."""
ROWS, HOLDOUT, TRAIN = 10_000, 10_000, 20_000
SEEDS = (0, 1, 2)
TRAINING_SET = MODEL.training_set.name
Sampler = Callable[..., tuple[np.ndarray, np.ndarray]]


def overconfident(model: LogisticRegression) -> Callable[[np.ndarray], np.ndarray]:
    """The deployed probabilities: the fitted log-odds × 3, overconfident as boosted models
    often are, so calibration has something to correct."""
    return lambda x: expit(3 * model.decision_function(x))


def monitored(sample: Sampler, windows: list[tuple], seed: int
              ) -> tuple[CBPE, list[float], list[float], list[np.ndarray]]:
    """Train on one sample, calibrate on a holdout, score each window's drifted sample: the
    estimator, the realized and estimated ROC AUC per window, the windows' probabilities."""
    rng = np.random.default_rng(seed)
    x, y = sample(rng, TRAIN, *windows[0])
    score = overconfident(LogisticRegression().fit(x, y))
    x, y = sample(rng, HOLDOUT, *windows[0])
    estimator = CBPE.fit(score(x), y)
    realized, estimated, scores = [], [], []
    for window in windows:
        x, y = sample(rng, ROWS, *window)
        p = score(x)
        realized.append(roc_auc_score(y, p))
        estimated.append(estimator.estimate_roc_auc(p))
        scores.append(p)
    return estimator, realized, estimated, scores


def covariate_shift(rng: np.random.Generator, n: int, mean: tuple[float, float], sd: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Two features; P(y | x) = expit(2.5 x1 + x2 − 1.5) never changes, the features' mean
    moves and their spread narrows."""
    x = rng.normal(mean, sd, size=(n, 2))
    return x, rng.uniform(size=n) < expit(2.5 * x[:, 0] + x[:, 1] - 1.5)


SHIFTS = [((0.0, 0.0), 1.0), ((0.3, 0.0), 0.8), ((0.5, 0.2), 0.6), ((0.7, 0.3), 0.45)]


def segment_mix(rng: np.random.Generator, n: int, hard_share: float, slope: float = 3.0
                ) -> tuple[np.ndarray, np.ndarray]:
    """Quality that degrades like a weakening relation: an easy segment (log-odds 3 x − 1) and a
    hard one (0.6 x − 1), the model knowing each row's segment; the hard segment's share grows.
    `slope`: the easy segment's coefficient (changing it is concept drift)."""
    hard = rng.uniform(size=n) < hard_share
    x = rng.normal(0.0, 1.0, n)
    logit = np.where(hard, 0.6 * x, slope * x) - 1.0
    return np.c_[x, hard, x * hard], rng.uniform(size=n) < expit(logit)


MIXES = [(0.2,), (0.45,), (0.7,), (0.9,)]


def assert_tracks(realized: list[float], estimated: list[float]) -> None:
    gaps = np.abs(np.array(realized) - np.array(estimated))
    assert gaps.max() <= TOLERANCE, (realized, estimated)
    assert realized[-1] < realized[0] - 0.1  # the drift really degrades the model
    assert np.all(np.diff(realized) < 0) and np.all(np.diff(estimated) < 0)  # same direction


@pytest.mark.parametrize("seed", SEEDS)
def test_estimate_follows_realized_auc_under_covariate_shift(seed: int) -> None:
    estimator, realized, estimated, scores = monitored(covariate_shift, SHIFTS, seed)

    assert_tracks(realized, estimated)
    # not a constant: the holdout's AUC misses the drifted window by far
    assert abs(estimator.holdout_roc_auc - realized[-1]) > 0.1
    # and the calibration matters: the raw (overconfident) probabilities as if calibrated
    identity = CBPE(IsotonicRegression(out_of_bounds="clip").fit([0, 1], [0, 1]), 0.0, 0)
    assert all(abs(identity.estimate_roc_auc(p) - r) > 0.05 for p, r in zip(scores, realized,
                                                                             strict=True))


@pytest.mark.parametrize("seed", SEEDS)
def test_estimate_follows_realized_auc_as_the_hard_segment_grows(seed: int) -> None:
    _, realized, estimated, _ = monitored(segment_mix, MIXES, seed)
    assert_tracks(realized, estimated)


def test_concept_drift_is_invisible_to_the_estimate() -> None:
    """CBPE's stated limit: when P(y | x) itself changes the scores do not, so the estimate
    stays put while the realized AUC falls; only labels show it."""
    _, realized, estimated, _ = monitored(
        lambda rng, n, slope: segment_mix(rng, n, 0.2, slope), [(3.0,), (1.5,), (0.8,)], 0)
    assert realized[0] - realized[-1] > 0.15
    assert max(estimated) - min(estimated) < 0.02


# the formula

def calibrator(points: list[tuple[float, float]]) -> IsotonicRegression:
    s, y = zip(*points, strict=True)
    return IsotonicRegression(out_of_bounds="clip").fit(s, y)


def test_estimate_by_hand_with_tied_scores() -> None:
    """c(0.2) = 0, c(0.6) = 0.5, c(0.8) = 1. Window scores 0.8, 0.6, 0.6, 0.2: expected
    positives 2, negatives 2; thresholds 0.8 → (FPR 0, TPR 1/2), 0.6 → (1/2, 1), 0.2 → (1, 1):
    area 1/2 · (1/2 + 1)/2 + 1/2 · 1 = 0.875."""
    estimator = CBPE(calibrator([(0.2, 0), (0.2, 0), (0.6, 0), (0.6, 1), (0.8, 1), (0.8, 1)]),
                     0.0, 6)
    assert estimator.calibrated(np.array([0.8, 0.6, 0.2])).tolist() == [1.0, 0.5, 0.0]
    assert estimator.estimate_roc_auc(np.array([0.6, 0.2, 0.8, 0.6])) == pytest.approx(0.875)


def test_estimate_equals_the_weighted_roc_auc_of_soft_labels() -> None:
    """Independent computation: each row a positive of weight c and a negative of weight
    1 − c, through scikit-learn's weighted ROC AUC."""
    rng = np.random.default_rng(4)
    holdout = rng.beta(2, 3, 2000)
    estimator = CBPE.fit(holdout, rng.uniform(size=2000) < holdout ** 0.7)
    window = np.round(rng.beta(3, 2, 3000), 2)  # many ties
    c = estimator.calibrated(window)
    expected = roc_auc_score(np.r_[np.ones(window.size), np.zeros(window.size)],
                             np.r_[window, window], sample_weight=np.r_[c, 1 - c])
    assert estimator.estimate_roc_auc(np.r_[window, np.nan]) == pytest.approx(expected, abs=1e-12)


def test_estimate_is_none_when_nothing_or_one_class_is_expected() -> None:
    estimator = CBPE(calibrator([(0.2, 0), (0.5, 0), (0.8, 1)]), 0.0, 3)
    assert estimator.estimate_roc_auc(np.array([])) is None
    assert estimator.estimate_roc_auc(np.array([np.nan])) is None
    assert estimator.estimate_roc_auc(np.array([0.1, 0.3])) is None  # every c = 0
    assert estimator.estimate_roc_auc(np.array([0.9, 0.95])) is None  # every c = 1


def test_fit_needs_both_classes_and_matching_lengths() -> None:
    with pytest.raises(ValueError, match="must hold both classes"):
        CBPE.fit(np.array([0.1, 0.9, np.nan]), np.array([0, 0, 1]))
    with pytest.raises(ValueError, match="same length"):
        CBPE.fit(np.array([0.1, 0.9]), np.array([0, 1, 1]))
    fitted = CBPE.fit(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
    assert fitted.holdout_roc_auc == pytest.approx(0.75) and fitted.holdout_rows == 4


# the champion's estimator, rebuilt from a model registered in a real MLflow store

def churn_frame(rows: int, days: int, seed: int) -> pl.DataFrame:
    """A learnable frame with the churn training set's label, label time and slice columns."""
    rng = np.random.default_rng(seed)
    tenure = rng.uniform(0, 100, rows)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return pl.DataFrame({
        "customer_id": np.arange(rows), LABEL_TIME: [start + timedelta(days=int(d))
                                                     for d in np.arange(rows) % days],
        "tenure_days": tenure, "plan_tier": rng.choice(["basic", "pro"], rows),
        "country": rng.choice(["FR", "DE"], rows),
        "churned": rng.uniform(0, 100, rows) + rng.normal(0, 25, rows) > tenure,
    }).with_columns(pl.col(LABEL_TIME).cast(pl.Datetime("us", "UTC")))


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Catalog, MlflowClient,
                                                                  Candidate]:
    """Version 1 of dev.churn.churn_clf trained by the engine on a 600-row training set with a
    holdout share of 0.5 (the declared model holds out 0.25), not yet champion."""
    base = tmp_path_factory.mktemp("cbpe")
    catalog = Catalog(str(base / "lakehouse"), "dev")
    frame = churn_frame(600, 8, seed=3)
    catalog.create_table(TRAINING_SET, frame.schema, TableInfo(owner="t"))
    catalog.append(TRAINING_SET, frame)
    client = use_tracking(f"sqlite:///{base / 'mlflow' / 'mlflow.db'}")
    spec = replace(MODEL, params={"max_iter": 15, "random_state": 0}, holdout_fraction=0.5)
    return catalog, client, train_candidate(catalog, client, spec)


def expected_estimator(candidate: Candidate) -> CBPE:
    """What the champion's estimator must be: fitted on the candidate's own holdout."""
    return CBPE.fit(candidate.evaluation.probabilities,
                    candidate.trained.holdout["churned"].cast(pl.Int8).to_numpy())


def assert_same(estimator: CBPE | None, candidate: Candidate) -> None:
    expected = expected_estimator(candidate)
    assert estimator is not None
    assert estimator.holdout_rows == candidate.trained.holdout.height == 300  # share 0.5
    assert estimator.holdout_roc_auc == pytest.approx(candidate.evaluation.metrics["roc_auc"])
    grid = np.linspace(0, 1, 101)
    assert np.allclose(estimator.calibrated(grid), expected.calibrated(grid))


@contextmanager
def predictions_not_logged(client: MlflowClient, candidate: Candidate) -> Iterator[None]:
    """As for a version trained before holdout predictions were logged: the run's artifact
    file moved aside (the store is a local folder), then put back."""
    folder = Path(urlparse(client.get_run(candidate.run_id).info.artifact_uri).path)
    logged = folder / HOLDOUT_PREDICTIONS
    aside = logged.with_suffix(".aside")
    logged.rename(aside)
    try:
        yield
    finally:
        aside.rename(logged)


def test_champion_estimator_fits_the_holdout_predictions_the_run_logged(
    registered: tuple[Catalog, MlflowClient, Candidate],
) -> None:
    catalog, client, candidate = registered
    assert champion_estimator(catalog, MODEL.name, client=client) is None  # no champion yet
    client.set_registered_model_alias(candidate.model, CHAMPION, str(candidate.version))
    logged = load_holdout_predictions(client, candidate.run_id)
    assert logged is not None
    assert np.array_equal(logged[0], candidate.evaluation.probabilities)

    assert_same(champion_estimator(catalog, MODEL.name), candidate)


def test_champion_estimator_rebuilds_the_holdout_of_a_run_that_logged_none(
    registered: tuple[Catalog, MlflowClient, Candidate],
) -> None:
    catalog, client, candidate = registered
    # new labels land after training: the champion's holdout stays at its pinned version
    catalog.append(TRAINING_SET, churn_frame(300, 2, seed=9).with_columns(
        pl.col(LABEL_TIME).dt.offset_by("30d")))
    with predictions_not_logged(client, candidate):
        assert load_holdout_predictions(client, candidate.run_id) is None
        assert_same(champion_estimator(catalog, MODEL.name, client=client), candidate)


def test_malformed_logged_predictions_give_no_estimate_and_say_why(
    registered: tuple[Catalog, MlflowClient, Candidate], caplog: pytest.LogCaptureFixture,
) -> None:
    catalog, client, candidate = registered
    folder = Path(urlparse(client.get_run(candidate.run_id).info.artifact_uri).path)
    logged = folder / HOLDOUT_PREDICTIONS
    original = logged.read_bytes()
    try:
        for content, why in ((b"not parquet", "is not a readable Parquet file"),
                             (None, "has columns ['p'], expected probability, label")):
            if content is None:
                pl.DataFrame({"p": [0.1]}).write_parquet(logged)
            else:
                logged.write_bytes(content)
            assert champion_estimator(catalog, MODEL.name, client=client) is None
            assert (f"{candidate.model} version {candidate.version}: no label-free estimate: "
                    f"run {candidate.run_id} artifact {HOLDOUT_PREDICTIONS} {why}") in caplog.text
    finally:
        logged.write_bytes(original)


def test_champion_estimator_of_an_undeclared_model_is_a_clear_error(
    registered: tuple[Catalog, MlflowClient, Candidate],
) -> None:
    with pytest.raises(ValueError, match="no domain declares a model 'nope' "
                                         r"\(declared: .*churn_clf"):
        champion_estimator(registered[0], "nope", client=registered[1])


def test_refresh_writes_the_estimate_beside_the_realized_metric(
    registered: tuple[Catalog, MlflowClient, Candidate],
) -> None:
    """An inference-log monitor of the model: each window's `:table` row carries the champion's
    label-free estimate of that window's scores before any label exists."""
    catalog, client, _ = registered
    rng = np.random.default_rng(2)
    day0 = datetime(2026, 3, 1, tzinfo=UTC)
    scored = pl.DataFrame({
        "customer_id": np.arange(200), "as_of": [day0] * 100 + [day0 + timedelta(days=1)] * 100,
        "probability": np.r_[rng.beta(2, 5, 100), rng.beta(2, 2, 100)], "model_version": 1,
    }).with_columns(pl.col("as_of").cast(pl.Datetime("us", "UTC")),
                    prediction=pl.col("probability") >= 0.5)
    catalog.create_table("churn.predictions", scored.schema, TableInfo(owner="t"))
    catalog.append("churn.predictions", scored)
    monitor = Monitor("churn.predictions", "inference_log", timestamp_col="as_of",
                      inference_log=InferenceLog(
                          "model_version", "prediction", "probability", model=MODEL.name,
                          labels=LabelJoin("silver.churn_labels", ("customer_id",),
                                           "label_timestamp", "churned")))

    refresh(catalog, monitor, client=client)

    rows = (catalog.read(monitor.profile_metrics_table)
            .filter(pl.col("column_name") == TABLE_LEVEL, pl.col("slice_key").is_null())
            .sort("window"))
    estimator = champion_estimator(catalog, MODEL.name, client=client)
    assert estimator is not None
    expected = [estimator.estimate_roc_auc(part["probability"].to_numpy())
                for part in scored.partition_by("as_of", maintain_order=True)]
    assert rows["estimated_roc_auc"].to_list() == pytest.approx(expected)
    assert expected[0] != pytest.approx(expected[1])  # per window, not one number
    assert rows["label_count"].to_list() == [0, 0] and rows["roc_auc"].null_count() == 2


def test_a_vacuumed_training_set_leaves_the_logged_holdout_and_nothing_else(
    registered: tuple[Catalog, MlflowClient, Candidate], caplog: pytest.LogCaptureFixture,
) -> None:
    """Runs last: it rewrites the module's training set."""
    catalog, client, candidate = registered
    catalog.overwrite(TRAINING_SET, churn_frame(50, 4, seed=1))
    catalog.vacuum(TRAINING_SET, 0, enforce_retention_duration=False)

    assert_same(champion_estimator(catalog, MODEL.name, client=client), candidate)
    with predictions_not_logged(client, candidate):
        assert champion_estimator(catalog, MODEL.name, client=client) is None
    assert (f"{candidate.model} version {candidate.version}: no label-free estimate: "
            f"{candidate.model} version {candidate.version}: its training set "
            f"dev.{TRAINING_SET} at version 1 cannot be read") in caplog.text
