"""Model quality of inference logs: label joins on real Delta tables, each metric against a
computation by hand or numpy on a hand-made window, fairness of a boolean slice, one-class
windows."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from lakehouse_ml.catalog import Catalog, TableInfo
from lakehouse_ml.domains.churn.monitors import PREDICTIONS
from lakehouse_ml.monitoring.cbpe import CBPE
from lakehouse_ml.monitoring.quality import fairness_columns, quality_columns, with_labels
from lakehouse_ml.monitoring.schema import QUALITY
from lakehouse_ml.monitoring.spec import InferenceLog, LabelJoin

T0 = datetime(2026, 3, 15, tzinfo=UTC)
CHURN_LABELS = LabelJoin(table="silver.churn_labels", keys=("customer_id",),
                         time_column="label_timestamp", label="churned",
                         tolerance=timedelta(days=7))
JOINED = InferenceLog(model_id_col="model_version", prediction_col="prediction",
                      probability_col="probability", labels=CHURN_LABELS)
OWN = InferenceLog(model_id_col="model_version", prediction_col="prediction",
                   probability_col="probability", label_col="churned")


def day(offset: float) -> datetime:
    return T0 + timedelta(days=offset)


def labels_table(catalog: Catalog, rows: list[tuple[int, datetime, bool | None]]) -> None:
    frame = pl.DataFrame(rows, schema={"customer_id": pl.Int64,
                                       "label_timestamp": pl.Datetime("us", "UTC"),
                                       "churned": pl.Boolean}, orient="row")
    catalog.create_table("silver.churn_labels", frame.schema, TableInfo(owner="t"))
    catalog.append("silver.churn_labels", frame)


def predictions(rows: list[tuple[int | None, datetime | None]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"customer_id": pl.Int64, "as_of": pl.Datetime("us", "UTC")},
                        orient="row").with_columns(
        probability=pl.lit(0.4), prediction=pl.lit(False), model_version=pl.lit(1))


# with_labels

def test_label_join_arrived_not_arrived_outside_tolerance_and_nearest(catalog: Catalog) -> None:
    labels_table(catalog, [
        (1, day(0), True),                       # exact
        (2, day(-14), False), (2, day(0), True),  # two candidates: day 0 is nearer to day 2
        (3, day(-8), True),                       # 8 days before: outside the 7-day tolerance
        (5, day(-5), False), (5, day(5), True),   # equally near: the earlier one
        (6, day(6), True), (6, day(-7), False),   # forward nearer than backward
        (7, day(0), None),                        # a NULL label is no label
    ])
    scored = predictions([(1, day(0)), (2, day(2)), (3, day(0)), (4, day(0)), (5, day(0)),
                          (6, day(0)), (7, day(0)), (None, day(0)), (1, None), (1, day(7))])

    joined = with_labels(catalog, scored, JOINED, "as_of")

    assert joined.columns == [*scored.columns, "label"]
    assert joined.drop("label").equals(scored)  # same rows, same order, none dropped
    assert joined["label"].dtype == pl.Boolean
    assert joined["label"].to_list() == [True, True, None, None, False, True, None, None, None,
                                         True]


def test_label_join_integer_labels_other_time_types_and_disagreeing_duplicates(
    catalog: Catalog,
) -> None:
    frame = pl.DataFrame({
        "customer_id": [1, 2, 3, 3, 4], "label_timestamp": [T0.replace(tzinfo=None)] * 5,
        "churned": [1, 0, 1, 0, 2],
    }).with_columns(pl.col("label_timestamp").cast(pl.Datetime("ms")))  # naive: taken as UTC
    catalog.create_table("silver.churn_labels", frame.schema, TableInfo(owner="t"))
    catalog.append("silver.churn_labels", frame)
    scored = predictions([(1, day(0)), (2, day(0)), (3, day(0)), (4, day(0))]).with_columns(
        pl.col("as_of").dt.convert_time_zone("Europe/Paris"))

    joined = with_labels(catalog, scored, JOINED, "as_of")

    assert joined["label"].to_list() == [True, False, None, None]  # 3 disagrees, 4 is not 0/1


def test_label_join_without_tolerance_takes_exact_times_only(catalog: Catalog) -> None:
    labels_table(catalog, [(1, day(0), True), (2, day(1), True)])
    exact = InferenceLog(model_id_col="m", prediction_col="prediction",
                         labels=LabelJoin("silver.churn_labels", ("customer_id",),
                                          "label_timestamp", "churned"))
    joined = with_labels(catalog, predictions([(1, day(0)), (2, day(0))]), exact, "as_of")
    assert joined["label"].to_list() == [True, None]


def test_churn_scores_are_judged_by_the_label_observed_at_their_as_of(catalog: Catalog) -> None:
    """The declared churn join (tolerance 0): a score as of an observation midnight gets that
    label; the day after's score gets none (the estimate covers it); nothing is dropped."""
    spec = PREDICTIONS.inference_log
    assert spec is not None and spec.labels is not None
    labels_table(catalog, [(1, day(0), True), (2, day(0), False), (1, day(14), False)])
    scored = predictions([(1, day(0)), (2, day(0)), (1, day(1)), (2, day(13)), (3, day(0))])
    joined = with_labels(catalog, scored, spec, PREDICTIONS.timestamp_col)
    assert joined["label"].to_list() == [True, False, None, None, None]


def test_no_label_table_yet_means_no_label_yet(catalog: Catalog) -> None:
    scored = predictions([(1, day(0)), (2, day(1))])
    joined = with_labels(catalog, scored, JOINED, "as_of")
    assert joined.drop("label").equals(scored) and joined["label"].to_list() == [None, None]


def test_label_join_refuses_keys_of_another_type(catalog: Catalog) -> None:
    labels_table(catalog, [(1, day(0), True)])
    scored = predictions([(1, day(0))]).with_columns(pl.col("customer_id").cast(pl.String))
    with pytest.raises(ValueError, match="labels table silver.churn_labels column "
                                         "'customer_id' is Int64, the scored rows' String"):
        with_labels(catalog, scored, JOINED, "as_of")


def test_label_join_names_a_missing_column(catalog: Catalog) -> None:
    labels_table(catalog, [(1, day(0), True)])
    wrong = InferenceLog(model_id_col="m", prediction_col="prediction",
                         labels=LabelJoin("silver.churn_labels", ("customer_id",),
                                          "label_timestamp", "outcome"))
    with pytest.raises(ValueError, match="labels table silver.churn_labels has no column "
                                         "outcome"):
        with_labels(catalog, predictions([(1, day(0))]), wrong, "as_of")


def test_label_from_the_table_itself_and_no_label_declared(catalog: Catalog) -> None:
    scored = predictions([(1, day(0)), (2, day(0)), (3, day(0))]).with_columns(
        churned=pl.Series([1.0, 0.0, float("nan")]))
    assert with_labels(catalog, scored, OWN, "as_of")["label"].to_list() == [True, False, None]
    bare = InferenceLog(model_id_col="m", prediction_col="prediction")
    assert with_labels(catalog, scored, bare, "as_of")["label"].to_list() == [None] * 3
    with pytest.raises(ValueError, match="label column 'as_of' is Datetime"):
        with_labels(catalog, scored, InferenceLog("m", "prediction", label_col="as_of"), "as_of")


# quality_columns: a hand-made window

WINDOW = pl.DataFrame({
    "probability": [0.93, 0.85, 0.72, 0.64, 0.45, 0.35, 0.24, 0.12, 0.55, None],
    "label": [True, True, False, True, False, True, False, False, None, True],
    "prediction": [True] * 10,
})
"""8 labelled rows with a probability (one unlabelled, one without probability)."""


def test_each_quality_metric_against_a_computation_by_hand() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = quality_columns(WINDOW, OWN, None)

    assert set(got) == set(QUALITY) - {"predictive_parity", "predictive_equality",
                                       "equal_opportunity", "statistical_parity"}
    # labelled: p = .93 .85 .72 .64 .45 .35 .24 .12, y = 1 1 0 1 0 1 0 0 (the row without a
    # probability is labelled but has no prediction at the threshold: counted, not judged)
    assert got["label_count"] == 9
    # ROC AUC: positive/negative pairs ranked right: 4 positives × 4 negatives = 16 pairs,
    # wrong: (.64 < .72), (.35 < .72), (.35 < .45) → 13/16
    assert got["roc_auc"] == pytest.approx(13 / 16)
    # average precision: precision at each positive, by rank: 1/1, 2/2, 3/4, 4/6 → mean
    assert got["pr_auc"] == pytest.approx((1 + 1 + 3 / 4 + 4 / 6) / 4)
    y = np.array([1, 1, 0, 1, 0, 1, 0, 0])
    p = np.array([0.93, 0.85, 0.72, 0.64, 0.45, 0.35, 0.24, 0.12])
    assert got["log_loss"] == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    # predicted positive at 0.5: .93 .85 .72 .64 → TP 3, FP 1, FN 1
    assert got["precision"] == pytest.approx(3 / 4)
    assert got["recall"] == pytest.approx(3 / 4)
    assert got["f1_score"] == pytest.approx(3 / 4)
    # 10 equal-width bins, one row each in bins 9, 8, 7, 6, 4, 3, 2, 1:
    # Σ 1/8 · |y - p| = (.07 + .15 + .72 + .36 + .45 + .65 + .24 + .12) / 8
    assert got["calibration_error"] == pytest.approx(2.76 / 8)
    assert got["estimated_roc_auc"] is None


def test_threshold_and_prediction_column_decide_precision_and_recall() -> None:
    high = quality_columns(WINDOW, InferenceLog("m", "prediction", "probability",
                                                label_col="label", threshold=0.75), None)
    assert (high["precision"], high["recall"]) == (1.0, pytest.approx(2 / 4))
    assert high["f1_score"] == pytest.approx(2 * 2 / (2 * 2 + 0 + 2))
    estimator = CBPE.fit(np.array([0.1, 0.9, 0.4, 0.6]), np.array([0, 1, 0, 1]))
    without_probability = quality_columns(WINDOW, InferenceLog("m", "prediction",
                                                               label_col="label"), estimator)
    # the prediction column: every row predicted positive, 9 judged, 5 of them positive
    assert without_probability["precision"] == pytest.approx(5 / 9)
    assert without_probability["recall"] == 1.0
    assert without_probability["roc_auc"] is None and without_probability["log_loss"] is None
    assert without_probability["estimated_roc_auc"] is None  # nothing to estimate from


def test_one_class_window_has_null_auc_without_warnings() -> None:
    window = pl.DataFrame({"probability": [0.2, 0.7, 0.4], "label": [False, False, False],
                           "prediction": [False, True, False]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = quality_columns(window, OWN, None)
    assert got["roc_auc"] is None and got["pr_auc"] is None
    assert got["recall"] is None and got["precision"] == 0.0  # no positive label: TP+FN = 0
    assert got["log_loss"] == pytest.approx(-np.mean(np.log([0.8, 0.3, 0.6])))
    assert got["label_count"] == 3


def test_window_without_labels_has_only_the_estimate() -> None:
    window = WINDOW.with_columns(pl.lit(None, pl.Boolean).alias("label"))
    rng = np.random.default_rng(0)
    holdout = rng.uniform(size=400)
    estimator = CBPE.fit(holdout, rng.uniform(size=400) < holdout)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = quality_columns(window, OWN, estimator)
    assert got["label_count"] == 0
    assert {k for k, v in got.items() if v is not None} == {"label_count", "estimated_roc_auc"}
    finite = WINDOW["probability"].drop_nulls().to_numpy()
    assert got["estimated_roc_auc"] == estimator.estimate_roc_auc(finite)


def test_nan_probability_is_neither_scored_nor_predicted_positive() -> None:
    window = pl.DataFrame({"probability": [0.9, float("nan"), 0.2], "label": [True, True, False],
                           "prediction": [True, True, False]})
    got = quality_columns(window, OWN, None)
    assert got["roc_auc"] == 1.0 and got["recall"] == 1.0  # the NaN row is not judged
    assert got["label_count"] == 3


# fairness_columns

def test_fairness_of_a_boolean_slice_by_hand() -> None:
    # member rows: y 1 1 0 0 0, predicted 1 0 1 0 0; rest: y 1 0 0 0, predicted 1 1 1 0;
    # one unlabelled member row predicted positive, one row in no group (NULL member)
    frame = pl.DataFrame({
        "probability": [0.9, 0.1, 0.8, 0.2, 0.3, 0.7, 0.9, 0.6, 0.8, 0.1, 0.9],
        "label": [True, True, False, False, False, None, True, False, False, False, True],
        "prediction": [False] * 11,
    })
    member = pl.Series([True] * 6 + [False] * 4 + [None], dtype=pl.Boolean)

    got = fairness_columns(frame, member, OWN)

    assert got["predictive_parity"] == pytest.approx(1 / 2 - 1 / 3)    # precision
    assert got["predictive_equality"] == pytest.approx(1 / 3 - 2 / 3)  # FP / (FP + TN)
    assert got["equal_opportunity"] == pytest.approx(1 / 2 - 1 / 1)    # TP / (TP + FN)
    assert got["statistical_parity"] == pytest.approx(3 / 6 - 3 / 4)   # all rows, no label
    assert set(got) == {"predictive_parity", "predictive_equality", "equal_opportunity",
                        "statistical_parity"}


def test_fairness_is_null_where_a_group_has_no_denominator() -> None:
    frame = pl.DataFrame({"probability": [0.9, 0.1, 0.2, 0.3], "label": [True, False, False, False],
                          "prediction": [False] * 4})
    got = fairness_columns(frame, pl.Series([True, True, False, False]), OWN)
    # rest: no positive label (recall undefined), no positive prediction (precision undefined)
    assert got["equal_opportunity"] is None and got["predictive_parity"] is None
    assert got["predictive_equality"] == 0.0 and got["statistical_parity"] == 0.5
    with pytest.raises(ValueError, match="member has 2 values for 4 rows"):
        fairness_columns(frame, pl.Series([True, False]), OWN)

