"""What churn monitors (Lakehouse Monitoring) and when drift retrains the classifier.

- Each feature table: a time series over its snapshot timestamp (one window per snapshot
  day), sliced by plan tier and country where the table has them, with CONSECUTIVE drift only
  (each day against the day before). Not against the training set: a snapshot holds every
  customer, churned ones too (about 30 % with no activity), while the training set holds a
  row per label, and a label exists only for a customer active at its time (about 1.5 % with
  no activity), so every snapshot "drifts" from it at ERROR before anything changed.
- `churn.predictions`: the batch scores as an inference log, with the model's input features
  as it saw them beside each score (`score_latest`). Its BASELINE drift is the drift of the
  model's inputs (Databricks measures input drift on the inference table too): the scored
  customers are those not churned and active (`training.ACTIVE`, the training set's
  population), the population the training rows come from, so the champion's training set
  is a fair baseline, without its values of windows truncated by the first landed day
  (`baseline.complete_windows`). A score as of `as_of` predicts churn within 30 days of
  `as_of`; a label in `silver.churn_labels` says whether the customer
  churned within 30 days of its `label_timestamp`. Both are stamped at a UTC midnight, and the
  training set pairs each label with the features as of its own `label_timestamp`, so a
  score is labelled only by the label of the same customer at exactly its `as_of`
  (tolerance 0): labels are observed every 14 days, so realized quality exists for those
  days, and the label-free estimate covers the others. Labels land 30 days after their time.
  The nearest label within 7 days would label every day's scores, but biased: a label is
  observed only for customers active at its time, so a later one misses those who churned in
  between (the earliest positives) and an earlier one counts customers already gone.
- `churn.inference_log`: the serving endpoint's requests (latency, status, rows per call).
"""

from __future__ import annotations

from datetime import timedelta

from lakehouse_ml.domains.churn.features import FEATURE_TABLES, KEY, TS
from lakehouse_ml.domains.churn.model import LABELS, MODEL
from lakehouse_ml.domains.churn.training import LABEL_TIME, REVENUE_PER_PURCHASE, TRAINING_SET
from lakehouse_ml.medallion.spec import FeatureTableSpec
from lakehouse_ml.ml.score_schema import THRESHOLD
from lakehouse_ml.monitoring.spec import (
    ChampionTrainingSet,
    DriftThreshold,
    InferenceLog,
    LabelJoin,
    Monitor,
    RetrainingPolicy,
)
from lakehouse_ml.serving.inference_log import table_name

SLICES = ("plan_tier", "country")
BASELINE = ChampionTrainingSet(MODEL.name)
INPUT_THRESHOLD = DriftThreshold("js_distance", warn=0.1, error=0.2, max_pvalue=0.01)
"""The default JS bounds, flagged only when the KS / chi-squared test agrees: a day's scores
are a few hundred rows at demo size, where a JS distance of 0.1 is often noise."""


def _feature_monitor(spec: FeatureTableSpec) -> Monitor:
    names = {feature.name for feature in spec.features}
    return Monitor(
        table=spec.table, profile_type="time_series", timestamp_col=TS,
        slicing_exprs=tuple(s for s in SLICES if s in names),
        exclude=(KEY,), freshness=timedelta(days=2),
    )


PREDICTIONS = Monitor(
    table=MODEL.predictions_table, profile_type="inference_log", timestamp_col="as_of",
    exclude=(KEY, "scored_at"), baseline=BASELINE,
    thresholds=dict.fromkeys((*(f.name for spec in FEATURE_TABLES for f in spec.features),
                              REVENUE_PER_PURCHASE.name), INPUT_THRESHOLD),
    inference_log=InferenceLog(
        model_id_col="model_version", prediction_col="prediction",
        probability_col="probability", threshold=THRESHOLD, model=MODEL.name,
        labels=LabelJoin(table=LABELS, keys=(KEY,), time_column=LABEL_TIME,
                         label=TRAINING_SET.label, tolerance=timedelta(0)),
    ),
    freshness=timedelta(days=2),
)

REQUESTS = Monitor(
    table=table_name(MODEL.schema), profile_type="time_series", timestamp_col="requested_at",
    columns=("latency_ms", "status_code", "rows"), categorical=("status_code",),
    slicing_exprs=("endpoint",),
)

MONITORS = (*(_feature_monitor(spec) for spec in FEATURE_TABLES), PREDICTIONS, REQUESTS)

RETRAINING = (
    RetrainingPolicy(MODEL.name, on_drift_level="ERROR", min_columns=2,
                     min_roc_auc=MODEL.min_roc_auc,
                     cooldown=timedelta(hours=24)),
)
"""Retrain churn_clf when two or more of its inputs (as logged with its scores in
`churn.predictions`) drift at ERROR against its training set in the latest window, or the
latest ROC AUC (realized, else estimated) falls below 0.7, the gate a new version must pass
anyway (`MODEL.min_roc_auc`)."""
