"""The churn training set: labels joined point-in-time with the four feature tables."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from lakehouse_ml.domains.churn.features import FEATURE_TABLES, KEY
from lakehouse_ml.features import FeatureFunction, FeatureLookup
from lakehouse_ml.features.snapshots import AS_OF
from lakehouse_ml.medallion.spec import TrainingSetSpec

LABEL_TIME = "label_timestamp"
FRESHNESS = timedelta(days=3)
"""A snapshot older than this at label time is treated as missing (nulls)."""


def _lookup(table: str) -> FeatureLookup:
    short = table.removeprefix("gold.customer_")
    return FeatureLookup(
        table_name=table, lookup_key=KEY, timestamp_lookup_key=LABEL_TIME,
        lookback_window=FRESHNESS, rename_outputs={AS_OF: f"{short}_{AS_OF}"},
    )


LOOKUPS = tuple(_lookup(spec.table) for spec in FEATURE_TABLES)
AS_OF_COLUMNS = tuple(f"{spec.table.removeprefix('gold.customer_')}_{AS_OF}"
                      for spec in FEATURE_TABLES)

REVENUE_PER_PURCHASE = FeatureFunction(
    name="revenue_per_purchase_30d",
    fn=(pl.col("revenue_30d") / pl.col("purchases_30d")).fill_nan(None),
)
"""On demand, identical in training, batch scoring and serving."""

ACTIVE = pl.col("events_30d") > 0
"""The customers the model is for: active ones, with an event in the 30 days before. A label
exists only for a customer active at its time, but the customers table says nothing of who is
active, and a churned customer's label lands 30 days after the fact (or never, for one gone
before the first label time): without this rule batch scoring scored about 20 % of customers
who had long gone (no activity at all) beside 1.5 % of such rows in the training set. Rows
and keys with no event in 30 days are left out of both."""

TRAINING_SET = TrainingSetSpec(
    name="churn.training_set",
    description="Churn labels with point-in-time features: each label sees only snapshots "
    "taken at or before its label_timestamp (and at most 3 days before).",
    labels="silver.churn_labels", label="churned", time_column=LABEL_TIME,
    feature_lookups=(*LOOKUPS, REVENUE_PER_PURCHASE),
    population=ACTIVE,
)
